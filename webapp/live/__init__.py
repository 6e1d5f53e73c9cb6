"""The live webcam stream over Socket.IO."""
