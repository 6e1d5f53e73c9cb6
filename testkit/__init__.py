"""Media the tests and the benchmarks share: drawn faces and scenes
(`synthetic`), short clips made with ffmpeg (`clips`), the frame-by-frame
check of an annotated video against its input (`videocheck`), and a process's
open descriptors (`descriptors`)."""
