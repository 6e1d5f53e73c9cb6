"""Offline video figures: speed against real time, peak memory for a short and
a 10x longer clip, and frame count / duration kept.

    python bench/video.py

Each clip is a 640x480, 30 fps H.264 version of a sample face clip (looped
10 times for the long one), annotated end to end (decode, engine, drawing,
H.264 encode with audio) in a fresh process, whose peak RSS is reported.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from common import CLIPS, REPO_ROOT, SAMPLES_DIR

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(source, path, loops):
    subprocess.run([FFMPEG, "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", source,
                    "-vf", "scale=-2:480,pad=640:480:(ow-iw)/2:0,fps=30", "-c:v", "libx264",
                    "-preset", "veryfast", "-c:a", "aac", path], check=True)


def annotate_in_child(path, output):
    """Run the annotation in a child process; returns (seconds, info, peak RSS MB)."""
    code = ("import json, sys, time; sys.path.insert(0, %r)\n"
            "from webapp import video\nfrom webapp.vision.pipeline import Engine\n"
            "engine = Engine(); started = time.perf_counter()\n"
            "info, rows = video.annotate(engine, %r, %r)\n"
            "import resource\n"
            "peak = {'python': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
            "        'ffmpeg': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}\n"
            "print(json.dumps({'seconds': time.perf_counter() - started, 'info': info, "
            "'peak': peak}))"
            % (REPO_ROOT, path, output))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["info"], result["peak"]


def main():
    source = os.path.join(SAMPLES_DIR, CLIPS[1])
    if not os.path.isfile(source):
        sys.exit(f"{source} not found")
    with tempfile.TemporaryDirectory() as folder:
        for loops in (1, 10):
            clip = os.path.join(folder, f"clip{loops}.mp4")
            make_clip(source, clip, loops)
            frames_in, seconds_in = imageio_ffmpeg.count_frames_and_secs(clip)
            output = os.path.join(folder, f"out{loops}.mp4")
            seconds, info, peak = annotate_in_child(clip, output)
            frames_out, seconds_out = imageio_ffmpeg.count_frames_and_secs(output)
            print(f"{seconds_in:.1f} s clip, 640x480 at 30 fps ({frames_in} frames): annotated in "
                  f"{seconds:.2f} s = {seconds_in / seconds:.1f}x real time "
                  f"({frames_in / seconds:.0f} frames/s); peak RSS {peak['python']:.0f} MB "
                  f"(largest ffmpeg: {peak['ffmpeg']:.0f} MB); "
                  f"output {frames_out} frames, {seconds_out:.2f} s")


if __name__ == "__main__":
    main()
