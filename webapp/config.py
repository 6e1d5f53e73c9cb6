"""Settings: one class, every value from the environment, with safe defaults."""
import os
import secrets

from webapp.video import Limits
from webapp.vision.classify import DEFAULT_MODEL
from webapp.vision.detect import DEFAULT_DETECTOR
from webapp.vision.pipeline import MAX_FACES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _flag(name, default):
    value = os.environ.get(name)
    return default if value in (None, "") else value.lower() not in ("0", "false", "no")


class Config:
    """Read once at start-up; `create_app(overrides)` can replace any value."""

    SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    HOST = os.environ.get("HOST", "127.0.0.1")
    PORT = _int("PORT", 5000)
    # "eventlet" (default), "gevent" or "threading": Flask-SocketIO's server model.
    ASYNC_MODE = os.environ.get("ASYNC_MODE", "eventlet")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    MODEL_PATH = os.environ.get("EMOTION_MODEL", os.path.abspath(DEFAULT_MODEL))
    # "blazeface" (MediaPipe BlazeFace, landmarks, aligned crops), "blazeface_short"
    # or "haar" (OpenCV's cascade, no landmarks).
    FACE_DETECTOR = os.environ.get("FACE_DETECTOR", DEFAULT_DETECTOR)
    MAX_FACES_PER_FRAME = _int("MAX_FACES_PER_FRAME", MAX_FACES)  # the largest are kept

    # Live stream: one JPEG per `frame` event.
    MAX_FRAME_BYTES = _int("MAX_FRAME_BYTES", 1024 * 1024)
    MAX_FRAME_PIXELS = _int("MAX_FRAME_PIXELS", 1920 * 1080)
    MAX_FRAME_RATE = _int("MAX_FRAME_RATE", 30)  # frames per second per connection
    # A frame that waited longer than this for a worker is dropped, not processed late.
    FRAME_DEADLINE_MS = _int("FRAME_DEADLINE_MS", 250)
    # More refused frames than this within 2 s (sent before the previous acknowledgement
    # or over the rate) disconnect the connection.
    MAX_FRAME_REFUSALS = _int("MAX_FRAME_REFUSALS", 60)
    # Work admitted off the event loop at once, per kind; beyond it the answer is "busy".
    MAX_LIVE_IN_FLIGHT = _int("MAX_LIVE_IN_FLIGHT", 8)
    MAX_ANALYZE_IN_FLIGHT = _int("MAX_ANALYZE_IN_FLIGHT", 2)
    # Images posted to /api/analyze.
    MAX_IMAGE_BYTES = _int("MAX_IMAGE_BYTES", 8 * 1024 * 1024)
    MAX_IMAGE_PIXELS = _int("MAX_IMAGE_PIXELS", 4096 * 4096)
    MAX_CONTENT_LENGTH = _int("MAX_UPLOAD_BYTES", 200 * 1024 * 1024)

    # Video jobs: files and a SQLite record under JOBS_DIR, run by a job worker
    # process beside the server (or by RQ workers with REDIS_URL).
    JOBS_DIR = os.environ.get("JOBS_DIR", os.path.join(ROOT, "instance", "jobs"))
    START_JOB_WORKERS = _flag("START_JOB_WORKERS", True)  # 0: this process runs no jobs
    JOB_WORKERS = _int("JOB_WORKERS", 1)  # videos processed at once
    JOB_RETENTION_SECONDS = _int("JOB_RETENTION_SECONDS", 24 * 3600)
    JOB_TIMEOUT_SECONDS = _int("JOB_TIMEOUT_SECONDS", Limits.timeout_seconds)  # one job
    JOB_QUEUE_TIMEOUT_SECONDS = _int("JOB_QUEUE_TIMEOUT_SECONDS", 6 * 3600)
    JOB_STALL_SECONDS = _int("JOB_STALL_SECONDS", 600)  # processing without progress
    JOBS_DISK_QUOTA_BYTES = _int("JOBS_DISK_QUOTA_BYTES", 10 * 1024 ** 3)
    # The limits on one video (webapp.video.Limits has the defaults and says what each is).
    MAX_VIDEO_SECONDS = _int("MAX_VIDEO_SECONDS", Limits.max_seconds)
    MAX_VIDEO_FRAMES = _int("MAX_VIDEO_FRAMES", Limits.max_frames)
    MAX_VIDEO_SIDE = _int("MAX_VIDEO_SIDE", Limits.max_side)
    MAX_VIDEO_PIXELS = _int("MAX_VIDEO_PIXELS", Limits.max_pixels)
    # Scale-out: with a Redis URL, Socket.IO uses it as message queue, video jobs go
    # to `rq worker videos` processes, and rate-limit counts are kept there.
    REDIS_URL = os.environ.get("REDIS_URL") or None

    # Per-client limits on the HTTP API ("N per second|minute|hour|day"); 429 beyond them.
    RATE_LIMIT_API = os.environ.get("RATE_LIMIT_API", "600 per minute")
    RATE_LIMIT_ANALYZE = os.environ.get("RATE_LIMIT_ANALYZE", "120 per minute")
    RATE_LIMIT_UPLOADS = os.environ.get("RATE_LIMIT_UPLOADS", "30 per hour")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted
    # (0: none, so a client reaching the app directly cannot forge its address).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)

    # Connections (see webapp/serving.py), for `python wsgi.py` and gunicorn.conf.py.
    HEADER_TIMEOUT = _int("HEADER_TIMEOUT", 10)  # seconds for a request's line and headers
    SOCKET_TIMEOUT = _int("SOCKET_TIMEOUT", 30)  # seconds a body read or response write may stall
    MAX_CONNECTIONS = _int("MAX_CONNECTIONS", 4096)  # per process, kept below its open-file limit
    # Per client address; behind a proxy every connection comes from the proxy,
    # which caps per address itself (deploy/nginx.conf: limit_conn).
    MAX_CONNECTIONS_PER_ADDRESS = _int("MAX_CONNECTIONS_PER_ADDRESS",
                                       0 if TRUSTED_PROXIES else 100)

    # HTTPS served by this process (see webapp/tls.py); a reverse proxy is the other way.
    TLS_CERT = os.environ.get("TLS_CERT")
    TLS_KEY = os.environ.get("TLS_KEY")
    TLS_SELF_SIGNED = os.environ.get("TLS_SELF_SIGNED", "") not in ("", "0", "false")
    # Socket.IO: origins allowed to connect ("*" for any; default: same origin).
    CORS_ALLOWED_ORIGINS = os.environ.get("CORS_ALLOWED_ORIGINS") or None
