"""The embedded job runner: a queue, a few workers and a retention sweeper.

Workers are tasks of the server's async mode (green threads under eventlet);
each job's CPU work runs on a real OS thread through `run_blocking`, so the
live page stays responsive while a video is processed. State lives in the
JobStore: on start, queued jobs are queued again, and a job that was running
when the server stopped is retried once, then marked failed with the reason.
"""
import logging
import queue

from webapp.jobs.tasks import record_interrupted, run_job

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, store, engine, run_blocking, start_task, sleep, workers=1,
                 retention_seconds=24 * 3600, max_attempts=2):
        self.store = store
        self.engine = engine
        self.run_blocking = run_blocking
        self.start_task = start_task
        self.sleep = sleep
        self.workers = workers
        self.retention_seconds = retention_seconds
        self.max_attempts = max_attempts
        self.queue = queue.Queue()

    def start(self):
        self.recover()
        for _ in range(self.workers):
            self.start_task(self._work)
        self.start_task(self._sweep)

    def recover(self):
        """Requeue what a previous run of the server left unfinished."""
        for job_id in self.store.ids_with_status("processing"):
            retry = self.store.get(job_id)["attempts"] < self.max_attempts
            record_interrupted(self.store, job_id, retry)
        for job_id in self.store.ids_with_status("queued"):
            self.queue.put(job_id)

    def submit(self, job_id):
        self.store.update(job_id, status="queued")
        self.queue.put(job_id)

    def _work(self):
        while True:
            job_id = self.queue.get()
            try:
                self.run_blocking(self.run_job, job_id)
            except Exception:  # recorded in the job by run_job; the worker goes on
                log.exception("job %s failed", job_id)

    def run_job(self, job_id):
        """Process one job (on a worker OS thread)."""
        run_job(self.store, self.engine, job_id)

    def _sweep(self):
        sweep_forever(self.store, self.retention_seconds, self.sleep)


def sweep_forever(store, retention_seconds, sleep):
    """Delete finished jobs (and their files) once they are older than the retention time."""
    while True:
        for job_id in store.expired(retention_seconds):
            store.delete(job_id)
        sleep(min(60, retention_seconds / 2))
