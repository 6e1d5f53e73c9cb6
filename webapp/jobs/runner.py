"""The embedded job runner: a job worker process beside the server, watched
over from a background task of the server.

The web process only records jobs; `python -m webapp.jobs.worker`, started
here when there is work, claims them from the same SQLite store and runs them
(see webapp/jobs/worker.py for why a process of its own). Every second the
watcher: starts the worker when jobs are queued, starts it again (with a
growing pause) if it died, and puts back in the queue (once; the second time
they fail with the reason) the jobs a dead worker left "processing", which is
also how a restart of the server picks up what the last run left. Finished
jobs older than the retention time are deleted, and jobs stuck in the queue
or without progress expire with a reason.
"""
import atexit
import json
import logging
import os
import subprocess
import sys
import time

from webapp.config import ROOT
from webapp.jobs.tasks import expire_stuck, record_interrupted
from webapp.jobs.worker import is_alive

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, store, settings, start_task, sleep, workers=1,
                 retention_seconds=24 * 3600, max_attempts=2, queued_seconds=6 * 3600,
                 stalled_seconds=600, tick_seconds=0.5):
        self.store = store
        self.settings = settings
        self.start_task = start_task
        self.sleep = sleep
        self.workers = workers
        self.retention_seconds = retention_seconds
        self.max_attempts = max_attempts
        self.queued_seconds = queued_seconds
        self.stalled_seconds = stalled_seconds
        self.tick_seconds = tick_seconds
        self.process = None
        self.stopping = False
        self.wanted = False
        self.restarts = 0

    def start(self):
        self.recover()
        self.start_task(self._watch)
        atexit.register(self.stop)

    def submit(self, job_id):
        self.store.update(job_id, status="queued")
        self.wanted = True

    def recover(self):
        """Queue again (or fail, after max_attempts) the jobs left "processing"
        by a worker that is no longer running."""
        for job_id in self.store.ids_with_status("processing"):
            job = self.store.get(job_id)
            if job is not None and not is_alive(job["worker"]):
                record_interrupted(self.store, job_id, job["attempts"] < self.max_attempts)

    def stop(self, timeout=30):
        """Stop the worker: it puts its running jobs back in the queue."""
        self.stopping = True
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _watch(self):
        next_sweep, not_before = 0.0, 0.0
        while not self.stopping:
            try:
                if self.process is not None and self.process.poll() is not None:
                    log.warning("the job worker stopped (exit status %s)", self.process.returncode)
                    self.process = None
                    self.restarts += 1
                    not_before = time.monotonic() + min(30, 2 ** self.restarts / 2)
                self.recover()
                if (self.process is None and time.monotonic() >= not_before
                        and (self.wanted or self.store.ids_with_status("queued"))):
                    self._spawn()
                if time.monotonic() >= next_sweep:
                    sweep(self.store, self.retention_seconds, self.queued_seconds,
                          self.stalled_seconds)
                    next_sweep = time.monotonic() + min(30, self.retention_seconds / 2)
            except Exception:  # the watcher must go on (a locked database, ...)
                log.exception("job watcher")
            self.sleep(self.tick_seconds)

    def _spawn(self):
        self.wanted = False
        command = [sys.executable, "-m", "webapp.jobs.worker", "--jobs-dir", self.store.jobs_dir,
                   "--settings", json.dumps(self.settings), "--parent-pid", str(os.getpid()),
                   "--threads", str(self.workers)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL)
        log.info("job worker started (pid %d)", self.process.pid)


def sweep(store, retention_seconds, queued_seconds, stalled_seconds):
    """Delete finished jobs older than the retention time; expire stuck ones."""
    for job_id in store.expired(retention_seconds):
        store.delete(job_id)
    expire_stuck(store, queued_seconds, stalled_seconds)


def sweep_forever(store, retention_seconds, queued_seconds, stalled_seconds, sleep):
    while True:
        try:
            sweep(store, retention_seconds, queued_seconds, stalled_seconds)
        except Exception:
            log.exception("job sweep")
        sleep(min(30, retention_seconds / 2))
