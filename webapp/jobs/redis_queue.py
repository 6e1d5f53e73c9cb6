"""Video jobs on RQ workers, for sites served by several processes (REDIS_URL).

The web processes enqueue job ids on the `videos` queue; `rq worker videos`
processes (on this machine or others sharing JOBS_DIR) run them with the same
task as the embedded runner, recording progress in the same job store, which
every web process reads to push progress to its clients.

    REDIS_URL=redis://localhost:6379/0 rq worker videos --url redis://localhost:6379/0

Workers die: RQ retries a job once when its work horse is killed (out of
memory, say) or when its whole worker stops sending heartbeats (killed,
machine lost: RQ counts the job abandoned 60-90 s after the last one), then
fails it. Every `REAP_INTERVAL` seconds the web processes have RQ look for
abandoned jobs and copy RQ's verdict into the job store (`reap`).
"""
import logging

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from webapp.jobs.runner import sweep_forever
from webapp.jobs.tasks import record_interrupted, run_job

QUEUE_NAME = "videos"
REAP_INTERVAL = 30
RETRIES = 1  # after the first attempt; the embedded runner also tries twice
WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
_engines = {}
log = logging.getLogger(__name__)


class RQRunner:
    """The JobRunner interface, backed by an RQ queue."""

    def __init__(self, store, redis_url, model_path, start_task, sleep,
                 retention_seconds=24 * 3600, job_timeout=3600):
        self.store = store
        self.model_path = model_path
        self.start_task = start_task
        self.sleep = sleep
        self.retention_seconds = retention_seconds
        self.job_timeout = job_timeout
        self.queue = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))

    def start(self):
        self.start_task(sweep_forever, self.store, self.retention_seconds, self.sleep)
        self.start_task(self._reap_forever)

    def submit(self, job_id):
        self.store.update(job_id, status="queued")
        self.queue.enqueue(run_video_job, job_id, self.store.jobs_dir, self.model_path,
                           job_id=job_id, job_timeout=self.job_timeout,
                           retry=Retry(max=RETRIES), description=f"video job {job_id}")

    def reap(self, timestamp=None):
        """Have RQ retry or fail the jobs whose worker stopped sending
        heartbeats before `timestamp` (default: now), then record in the store
        what RQ decided for every job a dead worker left "processing"."""
        # RQ's own maintenance lock: one process at a time, so a job is retried once.
        if self.queue.acquire_maintenance_lock():
            try:
                StartedJobRegistry(queue=self.queue).cleanup(timestamp)
            finally:
                self.queue.release_maintenance_lock()
        for job_id in self.store.ids_with_status("processing"):
            try:
                rq_status = Job.fetch(job_id, connection=self.queue.connection).get_status()
            except NoSuchJobError:
                rq_status = JobStatus.FAILED  # expired from Redis: nobody will run it
            if rq_status in WAITING:
                record_interrupted(self.store, job_id, retry=True)
            elif rq_status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                record_interrupted(self.store, job_id, retry=False, who="worker")

    def _reap_forever(self):
        while True:
            try:
                self.reap()
            except Exception as error:  # Redis away for a moment: try again later
                log.warning("checking for abandoned video jobs failed: %s", error)
            self.sleep(REAP_INTERVAL)

    def ping(self):
        return self.queue.connection.ping()


def run_video_job(job_id, jobs_dir, model_path):
    """The RQ task: process one video job in the worker process."""
    from webapp.jobs.store import JobStore
    from webapp.vision.pipeline import Engine

    engine = _engines.get(model_path)
    if engine is None:
        engine = _engines[model_path] = Engine(model_path)
    store = JobStore(jobs_dir)
    # Still "processing": the worker of the last attempt died and RQ retries it.
    record_interrupted(store, job_id, retry=True)
    run_job(store, engine, job_id)
