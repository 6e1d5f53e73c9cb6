"""Annotate a video file: boxes and labels drawn on every frame, re-encoded as
H.264 MP4 with the original audio (left out if it is damaged), and one result
row per face per frame.

    python -m webapp.video INPUT -o OUTPUT.mp4 --csv results.csv --json results.json

decode -> analyse -> draw -> encode, with decoding and encoding in threads of
their own so the three overlap: an ffmpeg decoder (imageio-ffmpeg's binary)
pipes raw frames to a reader thread, the engine analyses and draws them in the
calling thread, and a writer thread pipes them to an ffmpeg H.264 encoder (the
pip OpenCV cannot write H.264). Queues between them hold a few frames and the
results go to a CSV file as they come, so memory does not grow with the length.

Uploads are untrusted: ffmpeg reads local files only, with a list of known
video containers (no playlists, no network), frames are counted as they are
decoded so a container that lies about its duration stops at the limit, large
frames are scaled down in the decoder, and a job has a wall-clock deadline.
Must run in a process that eventlet has not monkey-patched (the job worker,
the command line): native threads writing to patched pipes lose data.
"""
import argparse
import contextlib
import csv
import itertools
import json
import math
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import imageio_ffmpeg
import numpy as np

from webapp.vision.decode import MAX_SIDE
from webapp.vision.draw import draw_faces
from webapp.vision.preprocess import EMOTIONS
from webapp.vision.summary import SummaryBuilder

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
# Demuxers of the video containers phones, cameras and editors write, and raw
# H.264/HEVC streams. Not playlists (hls, concat), which open other files.
ALLOWED_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,h264,hevc,ogg,asf"
# emotion is "uncertain" where the label is withheld (`reasons` says why); quality is
# the face's quality score (0..1), attending 1 or 0 (empty without a head pose).
# face_id is the track (it ends at a cut or when the face is lost), person_id the person
# (the tracks of one person joined once the video is processed: webapp/vision/people.py).
CSV_COLUMNS = ["frame", "time", "face_id", "person_id", "x", "y", "w", "h", "emotion", "confidence",
               *EMOTIONS, "quality", "reasons", "attending", "yaw", "pitch", "roll"]
QUEUE_FRAMES = 8  # frames waiting between decoder, analysis and encoder
ENCODER_FAILED = "the annotated video could not be written"
FFMPEG_STATUS_LINES = ("frame=", "Conversion failed!")  # say nothing of the cause


@dataclass
class Limits:
    """What one video may cost."""
    max_seconds: float = 600          # video length, counted in decoded frames
    max_frames: int = 600 * 60        # decoded frames, whatever the frame rate says
    max_side: int = 1280              # longer side of the frames analysed and written
    max_pixels: int = 7680 * 4320     # larger source frames are refused
    timeout_seconds: float = 3600     # wall-clock time for the whole job


class VideoError(ValueError):
    """The input cannot be read as a video, or breaks a limit."""


class TooLarge(VideoError):
    """Frames over the pixel cap."""


class TooLong(VideoError):
    """More frames than the length limit allows (whatever the header said)."""


class TimedOut(VideoError):
    """The job ran past its wall-clock deadline."""


class Cancelled(Exception):
    """Processing was cancelled by the caller."""


class Interrupted(Exception):
    """Processing was stopped (the worker is shutting down): it may be run again."""


def input_options(max_pixels):
    """ffmpeg input options for an untrusted file."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ALLOWED_FORMATS,
            "-max_pixels", str(max_pixels)]


def probe(path, max_pixels=Limits.max_pixels, timeout=60):
    """Facts about the video, from its header and its first decoded frame:
    width and height as displayed (rotation applied), fps, duration (0 when
    the header does not say), estimated frames, audio, and the time the video
    starts after the file's start. Raises TooLarge over `max_pixels`, and
    VideoError if no frame can be decoded."""
    command = [FFMPEG, "-hide_banner", "-nostdin", *input_options(max_pixels), "-i", path,
               "-map", "0:v:0", "-frames:v", "1", "-vf", "showinfo", "-f", "null", "-"]
    try:
        log = subprocess.run(command, capture_output=True, timeout=timeout).stderr.decode(
            "utf-8", "replace")
    except subprocess.TimeoutExpired:
        raise VideoError("reading the video's first frame took too long") from None
    header = log.split("Stream mapping:")[0]
    coded = re.search(r"Stream #0:\d+\S*: Video: .*?, (\d{2,5})x(\d{2,5})", header)
    if coded and int(coded[1]) * int(coded[2]) > max_pixels:
        raise TooLarge(f"the video is {coded[1]}x{coded[2]}; the limit is {max_pixels} pixels "
                       f"per frame")
    first = re.search(r"n:\s*0 pts:.*?pts_time:(\S+).*? s:(\d+)x(\d+)", log)
    if first is None:
        raise VideoError(_ffmpeg_reason(log))
    fps = _frame_rate(header, log)
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", header)
    seconds = (int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3])
               if duration else 0.0)
    try:
        video_start = max(0.0, float(first[1]))
    except ValueError:  # N/A: a stream without timestamps
        video_start = 0.0
    return {"width": int(first[2]), "height": int(first[3]), "fps": float(fps),
            "fps_fraction": f"{fps.numerator}/{fps.denominator}", "duration": seconds,
            "frames": round(seconds * fps), "video_start": round(video_start, 4),
            "audio": re.search(r"Stream #0:\d+\S*: Audio:", header) is not None}


def _frame_rate(header, log):
    """The video's frame rate as a fraction: its average rate (what players go
    by for variable-rate phone videos), exact where the stream's nominal rate
    agrees with it; 25 where the file says nothing."""
    nominal = re.search(r"config in time_base: \S+, frame_rate: (\d+)/(\d+)", log)
    nominal = Fraction(int(nominal[1]), int(nominal[2])) if nominal and int(nominal[1]) and int(
        nominal[2]) else None
    average = re.search(r"Stream #0:\d+\S*: Video: .*?, ([\d.]+)(k?) fps", header)
    average = Fraction(average[1]) * (1000 if average[2] else 1) if average else None
    if average is None or not 0 < average <= 1000:
        average = re.search(r"Stream #0:\d+\S*: Video: .*?, ([\d.]+) tbr", header)
        average = Fraction(average[1]) if average else None
    if average is None or not 0 < average <= 1000:
        return nominal or Fraction(25)
    if nominal is not None and abs(nominal - average) <= average / 100:
        return nominal
    for rate in (24, 30, 48, 60, 120, 240):  # NTSC rates, printed rounded
        if abs(average - Fraction(rate * 1000, 1001)) < Fraction(1, 100):
            return Fraction(rate * 1000, 1001)
    return average.limit_denominator(1001)


def _ffmpeg_reason(log):
    """A short reason from ffmpeg's log for a file it could not decode."""
    if "matches no streams" in log:
        return "not a readable video: it has no video stream"
    if "Output file is empty" in log or "received no packets" in log:
        return "not a readable video: no frame of it could be decoded (the video stream is damaged)"
    lines = [line.strip() for line in log.splitlines()
             if line.strip() and not line.startswith(FFMPEG_STATUS_LINES)]
    reason = lines[-1] if lines else "no frames"
    if reason.startswith("Error opening input files: "):
        reason = reason.split(": ", 1)[1]
    if "Invalid data found" in reason or "Invalid argument" in reason:
        reason = "it is in none of the video formats we accept"
    return f"not a readable video: {reason[:200]}"


def output_size(width, height, max_side):
    """The frame size to analyse and write: at most max_side (and never over
    the engine's MAX_SIDE) on the longer side, aspect kept, even (H.264 in
    yuv420p needs even sizes)."""
    scale = min(1.0, min(max_side, MAX_SIDE) / max(width, height))
    return (max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2))


def annotate(engine, input_path, output_path, csv_path=None, on_progress=None,
             should_cancel=None, stop=None, limits=None, overlap=True, json_path=None,
             probed=None, summary_path=None):
    """Write the annotated MP4 (and the per-frame results as CSV and JSON, and their
    summary: webapp/vision/summary.py); return
    the video's facts (`probed`: those `probe` gave already, else it is probed
    here). Calls on_progress(done, total) after each frame; raises Cancelled when
    should_cancel() says so, Interrupted when the `stop` event is set, and
    VideoError (TooLong, TimedOut, ...) when the video breaks a limit."""
    limits = limits or Limits()
    deadline = time.monotonic() + limits.timeout_seconds
    info = dict(probed) if probed else probe(input_path, limits.max_pixels)
    if info["audio"] and not _audio_decodes(input_path, limits, deadline - time.monotonic()):
        info.update(audio=False, audio_damaged=True)
    width, height = output_size(info["width"], info["height"], limits.max_side)
    info.update(source_width=info["width"], source_height=info["height"], width=width,
                height=height)
    max_frames = min(limits.max_frames, math.floor(limits.max_seconds * info["fps"] + 0.5))
    session = engine.session(min_hits=2, people="video", tiles=True)
    results = ResultsWriter(csv_path, json_path, summary_path)
    with tempfile.TemporaryFile() as decoder_log, tempfile.TemporaryFile() as encoder_log:
        decoder = subprocess.Popen(_decoder_command(input_path, width, height, limits),
                                   stdout=subprocess.PIPE, stderr=decoder_log,
                                   stdin=subprocess.DEVNULL)
        encoder = subprocess.Popen(_encoder_command(input_path, output_path, info, limits),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=encoder_log)
        frames = _raw_frames(decoder.stdout, (height, width, 3))
        sink = _ThreadedSink(encoder.stdin.write) if overlap else _InlineSink(encoder.stdin.write)
        source = _Prefetch(frames) if overlap else frames
        done, finished = 0, False
        try:
            for frame in source:
                if done >= max_frames:
                    raise TooLong(_too_long_reason(info, limits, done))
                _check(should_cancel, stop, deadline, limits)
                timestamp = done / info["fps"]
                faces = session.process(frame, timestamp=timestamp)["faces"]
                results.write(done, timestamp, faces)
                sink.put(draw_faces(frame, faces))
                done += 1
                if on_progress is not None:
                    on_progress(done, max(info["frames"], done))
            sink.close()
            encoder.stdin.close()
            _finish(encoder, encoder_log, ENCODER_FAILED, OSError)
            _finish(decoder, decoder_log, f"the video is damaged after frame {done}", VideoError)
            finished = True
        except BrokenPipeError:  # the encoder stopped reading: its log says why
            _finish(encoder, encoder_log, ENCODER_FAILED, OSError)
            raise
        finally:
            if overlap:
                source.stopped.set()
            sink.abandon()
            if finished:
                persons = session.people.final()
                info.update(frames=done, face_rows=results.rows, tracks=len(persons),
                            persons=len(set(persons.values())))
                results.close(info, persons)
            else:
                results.close(None)
            for process in (decoder, encoder):
                _end(process)
    if done == 0:
        raise VideoError("no frame could be decoded")
    return info


def _audio_decodes(path, limits, timeout):
    """Whether the first audio stream decodes to its end. A damaged one would
    stop the encoder, and lose the annotated video with it: it is left out."""
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error",
               *input_options(limits.max_pixels), "-i", path, "-map", "0:a:0", "-f", "null", "-"]
    try:
        return subprocess.run(command, capture_output=True,
                              timeout=min(timeout, 86400)).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _too_long_reason(info, limits, done):
    said = f"{info['duration']:g} s" if info["duration"] else "no duration"
    return (f"the video is longer than the limit of {limits.max_seconds:g} s "
            f"({done} frames at {info['fps']:g} fps, or {limits.max_frames} frames); "
            f"processing stopped there (its header said {said})")


def _check(should_cancel, stop, deadline, limits):
    if should_cancel is not None and should_cancel():
        raise Cancelled()
    if stop is not None and stop.is_set():
        raise Interrupted()
    if time.monotonic() > deadline:
        raise TimedOut(f"processing took longer than the limit of "
                       f"{limits.timeout_seconds:g} s")


def _decoder_command(path, width, height, limits):
    return [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error",
            *input_options(limits.max_pixels), "-i", path, "-map", "0:v:0",
            "-frames:v", str(limits.max_frames + 1), "-fps_mode", "passthrough",
            "-vf", f"scale={width}:{height}:flags=area", "-pix_fmt", "bgr24",
            "-f", "rawvideo", "pipe:1"]


def _encoder_command(input_path, output_path, info, limits):
    """Raw frames on stdin (placed where the video started in the source, to keep
    it in step with the audio) and the source's first audio stream."""
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "bgr24", "-video_size",
               f"{info['width']}x{info['height']}", "-framerate", info["fps_fraction"]]
    if info["video_start"] > 0:
        command += ["-itsoffset", str(info["video_start"])]
    command += ["-i", "pipe:0"]
    if info["audio"]:
        command += [*input_options(limits.max_pixels), "-i", input_path,
                    "-map", "0:v", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
    return command + ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                      "-pix_fmt", "yuv420p", "-movflags", "+faststart", output_path]


def _raw_frames(pipe, shape, buffers=3 * QUEUE_FRAMES):
    """Frames from a raw bgr24 pipe, read into a ring of preallocated buffers.
    A buffer is used again `buffers` frames later, by when the frame in it has
    gone through both queues and been written (each holds QUEUE_FRAMES)."""
    ring = [np.empty(shape, np.uint8) for _ in range(buffers)]
    for index in itertools.count():
        frame = ring[index % buffers]
        view, got = memoryview(frame).cast("B"), 0
        while got < view.nbytes:
            count = pipe.readinto(view[got:])
            if not count:
                break
            got += count
        if got < view.nbytes:  # end of stream (a partial frame cannot happen with ffmpeg)
            return
        yield frame


def _end(process):
    """Kill an ffmpeg process if it still runs and close its pipes. Bytes still
    buffered for a killed encoder are dropped: the error their flush raises
    would hide why processing ended (a stop, a cancel, a limit)."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()


def _finish(process, log_file, message, error_type):
    """Wait for an ffmpeg process; raise error_type with its log if it failed."""
    if process.wait() != 0:
        log_file.seek(0)
        detail = log_file.read().decode("utf-8", "replace").strip().splitlines()
        raise error_type(f"{message}: {detail[-1][:200] if detail else 'ffmpeg failed'}")


class _Prefetch:
    """Iterates an iterator in a thread of its own, a few items ahead."""

    _END = object()

    def __init__(self, iterator, size=QUEUE_FRAMES):
        self.items = queue.Queue(size)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(iterator,), daemon=True)
        self.thread.start()

    def _run(self, iterator):
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(self._END)
        except Exception as error:  # handed to the consumer
            self._put(error)

    def _put(self, item):
        """Queue an item unless the consumer has stopped; returns whether queued."""
        while not self.stopped.is_set():
            try:
                self.items.put(item, timeout=0.2)
                return True
            except queue.Full:
                pass
        return False

    def __iter__(self):
        try:
            while True:
                item = self.items.get()
                if item is self._END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.stopped.set()


class _ThreadedSink:
    """Calls `write(item.data)` for each item in a thread of its own."""

    def __init__(self, write, size=QUEUE_FRAMES):
        self.write = write
        self.items = queue.Queue(size)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.items.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self.write(item.data)
                except OSError as error:  # the encoder stopped (disk full, ...)
                    self.error = error

    def put(self, item):
        if self.error is not None:
            raise self.error
        self.items.put(item)

    def close(self):
        self.items.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self):
        """Let the thread end without writing what is left (after a failure)."""
        if not self.thread.is_alive():
            return
        self.error = self.error or OSError("abandoned")
        while True:
            try:
                self.items.put_nowait(None)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.items.get_nowait()


class _InlineSink:
    """The same interface, writing in the calling thread (for comparison)."""

    def __init__(self, write):
        self.put = lambda item: write(item.data)
        self.close = self.abandon = lambda: None


def trust_values(face):
    """The quality, reasons, attending and pose columns of a face's row."""
    assessed, pose, attending = face.get("quality"), face.get("pose"), face.get("attending")
    reasons = list((assessed or {}).get("reasons", []))
    if face.get("uncertain") and face["uncertain"] not in reasons:
        reasons.append(face["uncertain"])
    return [assessed["score"] if assessed else None, "; ".join(reasons),
            None if attending is None else int(attending),
            *((pose[k] for k in ("yaw", "pitch", "roll")) if pose else (None, None, None))]


class ResultsWriter:
    """Result rows, one per face per frame, to a CSV and a JSON file (to neither
    when their paths are None). Rows are spooled to a temporary file as they come,
    so memory does not grow with the video, and written out on close, when the
    person each track belongs to is known: {"labels", "rows", "video"} in JSON."""

    def __init__(self, csv_path=None, json_path=None, summary_path=None):
        self.paths = (csv_path, json_path)
        self.summary_path = summary_path
        self.spool = tempfile.TemporaryFile("w+") if any(self.paths) else None
        self.rows = 0

    def write(self, frame_index, seconds, faces):
        for face in faces:
            x, y, w, h = face["box"]
            values = [frame_index, round(seconds, 4), face["id"], face.get("person_id", face["id"]),
                      x, y, w, h, face["emotion"], face["confidence"],
                      *(face["scores"][label] for label in EMOTIONS), *trust_values(face)]
            if self.spool:
                self.spool.write(json.dumps(values) + "\n")
            self.rows += 1

    def close(self, info=None, persons=None):
        """Write both files (`persons`: {track id: person id}); the JSON is complete,
        and the summary written, only with the video's `info`."""
        if not self.spool:
            return
        csv_path, json_path = self.paths
        track_column, person_column = CSV_COLUMNS.index("face_id"), CSV_COLUMNS.index("person_id")
        summary = SummaryBuilder(EMOTIONS) if self.summary_path and info else None
        with self.spool, contextlib.ExitStack() as files:
            csv_file = files.enter_context(open(csv_path, "w", newline="")) if csv_path else None
            json_file = files.enter_context(open(json_path, "w")) if json_path else None
            table = csv.writer(csv_file) if csv_file else None
            if table:
                table.writerow(CSV_COLUMNS)
            if json_file:
                json_file.write(json.dumps({"labels": list(EMOTIONS)})[:-1] + ', "rows": [')
            self.spool.seek(0)
            for number, line in enumerate(self.spool):
                values = json.loads(line)
                if persons:
                    values[person_column] = persons.get(values[track_column], values[person_column])
                row = dict(zip(CSV_COLUMNS, values))
                if table:
                    table.writerow(values)
                if json_file:
                    json_file.write(("," if number else "") + json.dumps(row))
                if summary:
                    summary.add(row)
            if json_file and info is not None:
                json_file.write('], "video": ' + json.dumps(info) + "}")
        if summary:
            with open(self.summary_path, "w") as f:
                json.dump(summary.result(info["frames"], info["fps"], info.get("video_start") or 0.0),
                          f)


def _audio_outcome(info):
    if info.get("audio_damaged"):
        return "left out (the track is damaged)"
    return "kept" if info["audio"] else "none"


def main(argv=None):
    from webapp.vision.detect import DEFAULT_DETECTOR

    parser = argparse.ArgumentParser(description="Annotate a video with faces and emotions.")
    parser.add_argument("input", help="video file (anything ffmpeg reads)")
    parser.add_argument("-o", "--output", required=True, help="annotated MP4 to write")
    parser.add_argument("--csv", help="per-frame results as CSV")
    parser.add_argument("--json", help="per-frame results as JSON")
    parser.add_argument("--max-side", type=int, default=Limits.max_side,
                        help="longer side of the frames analysed and written (default %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=24 * 3600,
                        help="stop with an error past this length (default %(default)s)")
    parser.add_argument("--serial", action="store_true",
                        help="decode, analyse and encode in one thread (for comparison)")
    parser.add_argument("--detector", default=os.environ.get("FACE_DETECTOR", DEFAULT_DETECTOR),
                        help="face detector, as the server's FACE_DETECTOR (default "
                             "%(default)s)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from webapp.vision.pipeline import Engine

    if not os.path.isfile(args.input):
        sys.exit(f"error: {args.input} not found")
    engine = Engine(detector=args.detector)
    limits = Limits(max_seconds=args.max_seconds, max_frames=10 ** 9, max_side=args.max_side,
                    timeout_seconds=10 ** 9)
    bar = tqdm(unit="frame", desc="annotating")

    def on_progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        info = annotate(engine, args.input, args.output, args.csv, on_progress,
                        limits=limits, overlap=not args.serial, json_path=args.json)
    except (VideoError, OSError) as error:
        sys.exit(f"error: {error}")
    finally:
        bar.close()
    print(f"wrote {args.output}: {info['frames']} frames, {info['width']}x{info['height']}, "
          f"{info['fps']:g} fps, audio {_audio_outcome(info)}; "
          f"{info['face_rows']} face rows")


if __name__ == "__main__":
    main()
