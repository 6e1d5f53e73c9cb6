"""The job worker process: claims queued video jobs from the job store and
runs them, outside the web server.

    python -m webapp.jobs.worker --jobs-dir instance/jobs --settings '{...}' --parent-pid PID

The server's JobRunner starts one beside itself, so the web process never
runs ffmpeg pipes or long CPU work, and this process is a plain Python one
(eventlet's monkey-patching does not reach it: its threads may write to pipes).
It ends with its parent: on SIGTERM, or when the parent is gone (the kernel's
parent-death signal, and a check of the parent pid), it stops taking jobs and
puts the running ones back in the queue without counting the attempt.
"""
import argparse
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
import time

from webapp.jobs import settings as job_settings
from webapp.jobs.store import JobStore
from webapp.jobs.tasks import run_claimed_job

PR_SET_PDEATHSIG = 1
log = logging.getLogger("webapp.jobs.worker")


def worker_id(pid=None):
    """How a worker process signs the jobs it claims: host and pid."""
    return f"{socket.gethostname()}/{pid or os.getpid()}"


def is_alive(worker):
    """Whether the worker process that signed a job still runs (on this host)."""
    host, _, pid = (worker or "").rpartition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"webapp.jobs.worker" in f.read()
    except OSError:
        return False


def parent_gone(parent_pid):
    """Whether the process that started this one is no longer its parent."""
    return bool(parent_pid) and os.getppid() != parent_pid


def die_with_parent(parent_pid, stop):
    """Ask the kernel for SIGTERM when the parent dies; stop now if it already did."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the pid check below still works
        pass
    if parent_gone(parent_pid):
        stop.set()


def record_stop_signals():
    """Record SIGTERM and SIGINT in the returned list. The handler takes no lock:
    it runs between two bytecodes of the main thread, which may hold the lock
    inside a threading.Event at that moment (Event.set there would deadlock)."""
    received = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: received.append(signum))
    return received


def wait_for_stop(received, stop, parent_pid, poll_seconds=0.2):
    """Block until a stop signal, a stop already set, or the parent gone; then set stop."""
    while not (received or stop.is_set() or parent_gone(parent_pid)):
        time.sleep(poll_seconds)
    stop.set()


def work(store, engine, limits, stop, poll_seconds):
    """Claim and run jobs until told to stop."""
    me = worker_id()
    while not stop.is_set():
        job_id = store.claim(me)
        if job_id is None:
            stop.wait(poll_seconds)
            continue
        log.info("job %s: processing", job_id)
        run_claimed_job(store, engine, job_id, limits, stop)
        log.info("job %s: %s", job_id, (store.get(job_id) or {}).get("status", "deleted"))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run queued video jobs.")
    parser.add_argument("--jobs-dir", required=True)
    parser.add_argument("--settings", required=True, help="job settings as JSON")
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="stop when this process is no longer the parent")
    parser.add_argument("--threads", type=int, default=1, help="jobs run at once")
    parser.add_argument("--poll-seconds", type=float, default=0.3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    received = record_stop_signals()
    die_with_parent(args.parent_pid, stop)
    settings = json.loads(args.settings)
    store = JobStore(args.jobs_dir)
    engine = job_settings.engine(settings)
    threads = [threading.Thread(target=work, args=(store, engine, job_settings.limits(settings),
                                                   stop, args.poll_seconds))
               for _ in range(max(1, args.threads))]
    for thread in threads:
        thread.start()
    log.info("job worker %s ready (%d thread(s))", worker_id(), len(threads))
    wait_for_stop(received, stop, args.parent_pid)
    for thread in threads:
        thread.join()
    log.info("job worker %s stopped", worker_id())
    return 0


if __name__ == "__main__":
    sys.exit(main())
