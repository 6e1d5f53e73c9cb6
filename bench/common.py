"""Helpers shared by the benchmarks: sample frames and one-core pinning."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAMPLES_DIR = os.path.join(os.environ.get("SHARED_DIR", os.path.join(REPO_ROOT, "..", "shared")),
                           "samples")
CLIPS = ("clip_talking_head_tps_driving.mp4", "clip_smile_liveportrait_d19.mp4")

sys.path.insert(0, REPO_ROOT)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env=None, command=None, cwd=REPO_ROOT, log=None, timeout=60):
    """The real server (`python wsgi.py`, or `command` with {port} in it) on a free
    loopback port, once /healthz answers: (process, url, port)."""
    port = free_port()
    environment = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING",
                   **(env or {})}
    command = [part.format(port=port) for part in command or [sys.executable, "wsgi.py"]]
    output = log or subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=output,
                               stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return process, url, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start: {' '.join(command)}")


def pin_to_one_core():
    """Run this process on one CPU core, with single-threaded OpenCV."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)


def letterbox(frame, width=640, height=480):
    """Scale a frame to fit width x height and pad it with black."""
    scale = min(width / frame.shape[1], height / frame.shape[0])
    resized = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def read_clip(name, width=640, height=480):
    """All frames of a sample clip, letterboxed to width x height (width None:
    as decoded), and its fps."""
    path = os.path.join(SAMPLES_DIR, name)
    if not os.path.isfile(path):
        return None, None
    capture = cv2.VideoCapture(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame if width is None else letterbox(frame, width, height))
    return frames, fps


def jpeg(frame, quality=80):
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def clip_jpegs(name):
    """A sample clip's frames as JPEG bytes, and its fps; (None, None) if it is missing."""
    frames, fps = read_clip(name)
    return (None, None) if frames is None else ([jpeg(frame) for frame in frames], fps)


def percentile_ms(seconds, q):
    return float(np.percentile(seconds, q) * 1000)


def largest_face(faces):
    """The face of a result's `faces` with the largest box, None where there is none."""
    return max(faces, key=lambda face: face["box"][2] * face["box"][3]) if faces else None


def fer2013_path():
    """FER-2013's CSV: $FER2013_CSV, else the shared data folder's."""
    shared = os.environ.get("SHARED_DIR", os.path.join(REPO_ROOT, "..", "shared"))
    return os.environ.get("FER2013_CSV") or os.path.join(shared, "data", "fer2013.csv.gz")


def cpu_summary():
    """The CPU model, core count and SIMD flags (from lscpu), for printed figures."""
    import subprocess

    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "CPU: lscpu not available"
    fields = dict(line.split(":", 1) for line in lines.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    flags = set(fields.get("Flags", "").split())
    simd = [flag for flag in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni",
                              "avx512_bf16", "amx_tile") if flag in flags]
    return f"CPU: {model}, {cpus} CPUs, flags: {' '.join(simd) or 'none of avx/avx2/avx512'}"
