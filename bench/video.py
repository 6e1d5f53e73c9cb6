"""Video figures, side by side in one run, on a 640x480, 30 fps clip with one
face (a sample clip letterboxed and looped to --seconds):

1. through the real server: `python wsgi.py` in a subprocess, the clip
   uploaded over HTTP, timed from the upload to "done"; the annotated video
   downloaded and every frame checked against the input (testkit/videocheck.py);
2. `python -m webapp.video` (what a user waits for, start-up included), and the
   same annotation in a fresh process with decode, analysis and encode
   overlapped in threads and in one thread, with the peak memory of each;
3. the `fer` package's own video path (fer.classes.Video.analyze: Haar + its
   CNN, OpenCV's MP4 writer, no audio) where .venv-fer exists (bench/fer_env.sh);
4. the agreement of the per-frame results of the default session with a
   session that classifies every frame, on both sample clips;
5. with --long: peak memory for a 10-minute clip against the short one.

    python bench/video.py [--seconds 25] [--long]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import CLIPS, REPO_ROOT, SAMPLES_DIR, cpu_summary, read_clip, start_server
from testkit import videocheck  # noqa: E402  (the frame-by-frame check the tests use too)
from webapp import video  # noqa: E402

FFMPEG = video.FFMPEG
def make_clip(source, path, seconds):
    """The sample looped to `seconds`, letterboxed to 640x480 at 30 fps, with its audio."""
    subprocess.run([FFMPEG, "-v", "error", "-y", "-stream_loop", "-1", "-i", source,
                    "-t", str(seconds), "-vf", "scale=-2:480,pad=640:480:(ow-iw)/2:0,fps=30",
                    "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", path], check=True)


def run_job(url, clip):
    """Upload and wait for done; returns the seconds from upload to done, and the id."""
    started = time.perf_counter()
    status, body = videocheck.upload(url, clip)
    assert status == 202, body
    while videocheck.job(url, body["id"])["status"] in ("queued", "processing"):
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    job = videocheck.job(url, body["id"])
    assert job["status"] == "done", job
    return seconds, body["id"]


def through_server(clip, first_clip, folder):
    """Seconds from upload to done through `python wsgi.py` for a first, short
    job (it starts the job worker) and then for the clip; and the clip's check."""
    env = {"JOBS_DIR": os.path.join(folder, "jobs"), "LOG_LEVEL": "INFO"}
    with open(os.path.join(folder, "server.log"), "w") as log:
        server, url, _ = start_server(env, log=log, timeout=90)
        try:
            first_seconds, _ = run_job(url, first_clip)
            seconds, job_id = run_job(url, clip)
            import pathlib

            report = videocheck.check_annotated(
                clip, *videocheck.download_results(url, job_id, pathlib.Path(folder)))
        finally:
            server.terminate()
            server.wait(20)
    return first_seconds, seconds, report


def through_cli(clip, folder):
    """Seconds for `python -m webapp.video` from start to exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "webapp.video", clip, "-o",
                    os.path.join(folder, "cli.mp4"), "--csv", os.path.join(folder, "cli.csv"),
                    "--json", os.path.join(folder, "cli.json")], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def tree_rss_mb(pid):
    """(RSS of the process, RSS of it and its children) in MB, from /proc."""
    def rss(p):
        try:
            with open(f"/proc/{p}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            return 0

    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        children = []
    own = rss(pid)
    return own / 1024, (own + sum(rss(child) for child in children)) / 1024


def annotate_in_child(clip, output, overlap=True):
    """Annotate in a fresh process; returns (seconds, frames, peak RSS MB of the
    Python process, peak RSS MB of it and its ffmpeg processes together, CPU
    seconds of all of them). RSS is sampled from /proc every 0.1 s (ru_maxrss
    would carry the parent's peak over fork and exec)."""
    code = ("import json, resource, sys, time; sys.path.insert(0, %r)\n"
            "from webapp import video\nfrom webapp.vision.pipeline import Engine\n"
            "engine = Engine(); started = time.perf_counter()\n"
            "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
            "cpu_before = usage.ru_utime + usage.ru_stime\n"
            "info = video.annotate(engine, %r, %r, %r, overlap=%r, limits=video.Limits("
            "max_seconds=1e9, max_frames=10**9, timeout_seconds=1e9))\n"
            "seconds = time.perf_counter() - started\n"
            "me, children = (resource.getrusage(resource.RUSAGE_SELF), "
            "resource.getrusage(resource.RUSAGE_CHILDREN))\n"
            "print(json.dumps([seconds, info['frames'], me.ru_utime + me.ru_stime + "
            "children.ru_utime + children.ru_stime - cpu_before]))"
            % (REPO_ROOT, clip, output, output + ".csv", overlap))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    peak_own = peak_tree = 0.0
    while child.poll() is None:
        own, tree = tree_rss_mb(child.pid)
        peak_own, peak_tree = max(peak_own, own), max(peak_tree, tree)
        time.sleep(0.1)
    out, err = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(err[-2000:])
    seconds, frames, cpu = json.loads(out.strip().splitlines()[-1])
    return seconds, frames, peak_own, peak_tree, cpu


FER_SCRIPT = """
import json, logging, sys, time, glob, os
import cv2
logging.disable(logging.INFO)
# fer polls the keyboard and closes its preview window even without a display;
# headless OpenCV has no GUI, so those two calls do nothing here.
cv2.destroyAllWindows = lambda: None
cv2.waitKey = lambda delay=0: -1
from fer.fer import FER
from fer.classes import Video
detector = FER(use_tflite=True)
started = time.perf_counter()
rows = Video(sys.argv[1], outdir=sys.argv[2]).analyze(
    detector, display=False, save_frames=False, save_video=True, annotate_frames=True,
    zip_images=False, output="csv")
seconds = time.perf_counter() - started
videos = [p for p in glob.glob(os.path.join(sys.argv[2], "*")) if p.endswith((".mp4", ".avi"))]
print(json.dumps([seconds, len(rows), videos]))
"""


def through_fer(clip, folder):
    """fer's video path: (seconds, frames analysed, its output video) or a reason."""
    python = os.path.join(REPO_ROOT, ".venv-fer", "bin", "python")
    if not os.path.exists(python):
        return "skipped: .venv-fer not found (make it with: bash bench/fer_env.sh)"
    outdir = os.path.join(folder, "fer")
    done = subprocess.run([python, "-c", FER_SCRIPT, clip, outdir], capture_output=True,
                          text=True, cwd=folder)
    if done.returncode != 0:
        return f"skipped: fer's video path failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def every_frame_session(engine):
    """A session that classifies every frame (where the engine has that option)."""
    try:
        return engine.session(min_hits=2, classify_interval=0), True
    except TypeError:  # an engine that classifies every frame anyway
        return engine.session(min_hits=2), False


def agreement(engine, frames, fps):
    """Label agreement and mean box IoU, per face per frame, of the default
    session against the every-frame one (faces matched by best IoU)."""
    from webapp.vision.track import iou

    default = engine.session(min_hits=2)
    reference, has_option = every_frame_session(engine)
    same_label = matched = only_one = 0
    ious = []
    for index, frame in enumerate(frames):
        ours = default.process(frame, timestamp=index / fps)["faces"]
        theirs = reference.process(frame, timestamp=index / fps)["faces"]
        for face in theirs:
            best = max(ours, key=lambda f: iou(f["box"], face["box"]), default=None)
            if best is None or iou(best["box"], face["box"]) < 0.3:
                only_one += 1
                continue
            matched += 1
            ious.append(iou(best["box"], face["box"]))
            same_label += best["emotion"] == face["emotion"]
        only_one += max(0, len(ours) - len(theirs))
    return {"faces": matched, "same_label": same_label / max(matched, 1),
            "mean_iou": sum(ious) / max(len(ious), 1), "unmatched": only_one,
            "reference_has_option": has_option}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=25, help="length of the test clip")
    parser.add_argument("--long", action="store_true", help="also a 10-minute clip's memory")
    args = parser.parse_args()
    source = os.path.join(SAMPLES_DIR, CLIPS[1])
    if not os.path.isfile(source):
        sys.exit(f"{source} not found")
    print(cpu_summary())
    with tempfile.TemporaryDirectory() as folder:
        clip, first_clip = os.path.join(folder, "clip.mp4"), os.path.join(folder, "first.mp4")
        make_clip(source, clip, args.seconds)
        make_clip(source, first_clip, 2)
        frames = videocheck.count_frames(clip)
        length = frames / 30
        print(f"clip: {CLIPS[1]} looped to {length:.1f} s, 640x480, 30 fps, {frames} frames, "
              f"with audio")

        first_seconds, seconds, report = through_server(clip, first_clip, folder)
        print(f"  real server, first job (a 2 s clip; starts the job worker): {first_seconds:.2f} s")
        print(f"  real server (python wsgi.py, HTTP upload -> done): {seconds:6.2f} s = "
              f"{length / seconds:4.1f}x real time; output checked: {report['frames_out']} of "
              f"{report['frames_in']} frames, {report['matching']:.1%} match the input outside "
              f"the boxes (min PSNR {report['min_psnr']:.1f} dB), streams "
              f"{'+'.join(report['streams'])}, {report['rows']} result rows")
        seconds = through_cli(clip, folder)
        print(f"  python -m webapp.video (start-up included):       {seconds:6.2f} s = "
              f"{length / seconds:4.1f}x real time")
        for overlap in (True, False, True, False):  # interleaved: the machine's load varies
            seconds, done, peak, tree_peak, cpu = annotate_in_child(
                clip, os.path.join(folder, f"o{overlap}.mp4"), overlap)
            name = "threads: decode | analyse | encode" if overlap else "one thread"
            print(f"  annotate, {name:34s}    {seconds:6.2f} s = {length / seconds:4.1f}x real "
                  f"time ({done / seconds:.0f} frames/s, {cpu:.1f} CPU s); peak RSS "
                  f"{peak:.0f} MB (with its two ffmpeg: {tree_peak:.0f} MB)")
        fer = through_fer(clip, folder)
        if isinstance(fer, str):
            print(f"  fer package's video path: {fer}")
        else:
            frames_out = videocheck.count_frames(fer[2][0]) if fer[2] else 0
            print(f"  fer 25.10.3 Video.analyze (Haar + CNN, OpenCV mp4v, no audio): {fer[0]:6.2f} s "
                  f"= {length / fer[0]:4.1f}x real time ({fer[1]} frames with a face, "
                  f"{frames_out} frames in its video)")

        from webapp.vision.pipeline import Engine

        engine = Engine()
        for name in CLIPS:
            sample_frames, fps = read_clip(name)
            result = agreement(engine, sample_frames, fps)
            reference = ("every-frame classification" if result["reference_has_option"] else
                         "the same session (this engine classifies every frame)")
            print(f"  agreement with {reference}, {name}: {result['faces']} faces, "
                  f"same label {result['same_label']:.1%}, mean box IoU "
                  f"{result['mean_iou']:.3f}, {result['unmatched']} faces in only one")

        if args.long:
            long_clip = os.path.join(folder, "long.mp4")
            make_clip(source, long_clip, 600)
            for path, label in ((clip, f"{length:.0f} s"), (long_clip, "600 s")):
                seconds, done, peak, tree_peak, _ = annotate_in_child(
                    path, os.path.join(folder, "mem.mp4"))
                print(f"  memory, {label} clip ({done} frames): peak RSS {peak:.0f} MB, with "
                      f"its two ffmpeg {tree_peak:.0f} MB ({done / seconds:.0f} frames/s)")
        shutil.rmtree(os.path.join(folder, "jobs"), ignore_errors=True)


if __name__ == "__main__":
    main()
