"""Annotate a video file: every frame through the engine, boxes and labels drawn,
re-encoded as H.264 MP4 with the original audio, plus per-frame results.

    python -m webapp.video INPUT -o OUTPUT.mp4 --csv results.csv --json results.json

Frames stream through: decoded by ffmpeg one at a time, processed, and piped
to an ffmpeg encoder (imageio-ffmpeg's binary, which has libx264; the pip
OpenCV cannot write H.264), so memory does not grow with the video's length.
"""
import argparse
import csv
import json
import os
import sys

import cv2
import imageio_ffmpeg
import numpy as np

from webapp.vision.draw import draw_faces
from webapp.vision.preprocess import EMOTIONS

CSV_COLUMNS = ["frame", "time", "face_id", "x", "y", "w", "h", "emotion", "confidence",
               *EMOTIONS]


class VideoError(ValueError):
    """The input cannot be read as a video."""


class Cancelled(Exception):
    """Processing was cancelled by the caller."""


def probe(path):
    """Video facts from the container header: size, fps, duration, an estimated
    frame count and whether it has audio. Raises VideoError if ffmpeg cannot
    find a video stream in it."""
    try:
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        reader.close()
    except (RuntimeError, StopIteration, OSError) as error:
        message = str(error).strip().splitlines()[-1][:200] if str(error).strip() else ""
        raise VideoError(f"not a readable video ({message or 'no frames'})") from None
    if not meta.get("size") or not meta.get("fps"):
        raise VideoError("no video stream found")
    duration = float(meta.get("duration") or 0)
    return {"width": meta["size"][0], "height": meta["size"][1], "fps": float(meta["fps"]),
            "duration": duration, "frames": round(duration * meta["fps"]),
            "audio": meta.get("audio_codec") is not None}


def result_rows(frame_index, seconds, faces):
    """One CSV/JSON row per face of a frame."""
    for face in faces:
        x, y, w, h = face["box"]
        yield {"frame": frame_index, "time": round(seconds, 4), "face_id": face["id"],
               "x": x, "y": y, "w": w, "h": h, "emotion": face["emotion"],
               "confidence": face["confidence"], **face["scores"]}


def annotate(engine, input_path, output_path, on_progress=None, should_cancel=None):
    """Write the annotated MP4; return (info, rows). Calls on_progress(done, total)."""
    info = probe(input_path)
    width, height, fps = info["width"], info["height"], info["fps"]
    reader = imageio_ffmpeg.read_frames(input_path, pix_fmt="bgr24")
    next(reader)
    writer = imageio_ffmpeg.write_frames(
        output_path, (width, height), pix_fmt_in="bgr24", fps=fps, codec="libx264",
        macro_block_size=2, quality=None, ffmpeg_log_level="error",
        output_params=["-preset", "veryfast", "-crf", "23", "-movflags", "+faststart"],
        audio_path=input_path if info["audio"] else None,
        audio_codec="aac" if info["audio"] else None)
    writer.send(None)
    session, rows, done = engine.session(min_hits=2), [], 0
    try:
        for raw in _frames(reader, done_so_far=lambda: done):
            if should_cancel is not None and should_cancel():
                raise Cancelled()
            frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3).copy()
            result = session.process(frame, timestamp=done / fps)
            rows.extend(result_rows(done, done / fps, result["faces"]))
            writer.send(draw_faces(frame, result["faces"]))
            done += 1
            if on_progress is not None:
                on_progress(done, max(info["frames"], done))
    finally:
        reader.close()
        writer.close()
    info["frames"] = done
    return info, rows


def _frames(reader, done_so_far):
    """The reader's frames; a decoding failure midway becomes a VideoError."""
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except (RuntimeError, OSError) as error:
            raise VideoError(f"the video is damaged after frame {done_so_far()}: "
                             f"{str(error).strip()[:200]}") from None
        yield raw


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_json(info, rows, path):
    with open(path, "w") as f:
        json.dump({"video": info, "labels": list(EMOTIONS), "rows": rows}, f)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Annotate a video with faces and emotions.")
    parser.add_argument("input", help="video file (anything ffmpeg reads)")
    parser.add_argument("-o", "--output", required=True, help="annotated MP4 to write")
    parser.add_argument("--csv", help="per-frame results as CSV")
    parser.add_argument("--json", help="per-frame results as JSON")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from webapp.vision.pipeline import Engine

    if not os.path.isfile(args.input):
        sys.exit(f"error: {args.input} not found")
    engine = Engine()
    bar = tqdm(unit="frame", desc="annotating")

    def on_progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        info, rows = annotate(engine, args.input, args.output, on_progress)
    except VideoError as error:
        sys.exit(f"error: {error}")
    finally:
        bar.close()
    if args.csv:
        write_csv(rows, args.csv)
    if args.json:
        write_json(info, rows, args.json)
    print(f"wrote {args.output}: {info['frames']} frames, {info['width']}x{info['height']}, "
          f"{info['fps']:g} fps, audio {'kept' if info['audio'] else 'none'}; "
          f"{len(rows)} face rows")


if __name__ == "__main__":
    main()
