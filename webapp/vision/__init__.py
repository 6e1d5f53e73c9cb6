"""The vision engine, with one call for notebooks and scripts:

    from webapp import vision
    faces = vision.analyze("photo.jpg")   # a path, JPEG/PNG bytes, or a BGR/gray numpy array
    # [{"id": 1, "box": [x, y, w, h], "emotion": "happy", "confidence": 0.91,
    #   "scores": {"angry": 0.01, ..., "neutral": 0.04}}]

It imports without Flask. For streams (ids and smoothing across frames), use
`pipeline.Engine().session()`.
"""
import os
import threading

_default_engine = None
_engine_lock = threading.Lock()


def default_engine():
    """The shipped model with the default detector (BlazeFace), built on first use
    and then shared."""
    global _default_engine
    with _engine_lock:
        if _default_engine is None:
            from webapp.vision.pipeline import Engine

            _default_engine = Engine()
    return _default_engine


def analyze(image):
    """The faces in one image, each {"id", "box", "emotion", "confidence", "scores"}.

    `image` is a file path, the bytes of a JPEG/PNG, or a numpy array (BGR as
    OpenCV reads it, or grayscale). Raises `decode.DecodeError` for what is not an image.
    """
    engine = default_engine()
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            image = f.read()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return engine.analyze_bytes(bytes(image))["faces"]
    return engine.analyze(image)["faces"]
