"""Video jobs on RQ workers, for sites served by several processes (REDIS_URL).

The web processes enqueue job ids on the `videos` queue; `rq worker videos`
processes (on this machine or others sharing JOBS_DIR) run them with the same
task as the embedded worker, recording progress in the same job store, which
every web process reads to push progress to its clients. Jobs travel as JSON
(RQ's JSONSerializer, never pickle), so the workers need the same serializer:

    rq worker videos --url redis://localhost:6379/0 --serializer rq.serializers.JSONSerializer

A worker builds its engine with the model and face detector of the web
process's config (MODEL_PATH, FACE_DETECTOR), which travel with the job.

Workers die: RQ retries a job once when its work horse is killed (out of
memory, say) or when its whole worker stops sending heartbeats (killed,
machine lost: RQ counts the job abandoned 60-90 s after the last one), then
fails it. Every `REAP_INTERVAL` seconds the web processes have RQ look for
abandoned jobs and copy RQ's verdict into the job store (`reap`).
"""
import logging
import os

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from webapp.jobs import settings as job_settings
from webapp.jobs.runner import sweep_forever
from webapp.jobs.tasks import record_interrupted, run_job

QUEUE_NAME = "videos"
REAP_INTERVAL = 30
RETRIES = 1  # after the first attempt; the embedded runner also tries twice
WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
log = logging.getLogger(__name__)


class RQRunner:
    """The JobRunner interface, backed by an RQ queue."""

    def __init__(self, store, redis_url, settings, start_task, sleep,
                 retention_seconds=24 * 3600, queued_seconds=6 * 3600, stalled_seconds=600):
        self.store = store
        self.settings = settings
        self.start_task = start_task
        self.sleep = sleep
        self.retention_seconds = retention_seconds
        self.queued_seconds = queued_seconds
        self.stalled_seconds = stalled_seconds
        self.queue = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url),
                           serializer=JSONSerializer)

    def start(self):
        self.start_task(sweep_forever, self.store, self.retention_seconds, self.queued_seconds,
                        self.stalled_seconds, self.sleep)
        self.start_task(self._reap_forever)

    def submit(self, job_id):
        self.store.update(job_id, status="queued")
        # RQ's own timeout is a backstop above the job's wall-clock limit.
        timeout = int(self.settings["limits"]["timeout_seconds"]) + 600
        self.queue.enqueue(run_video_job, job_id, self.store.jobs_dir, self.settings,
                           job_id=job_id, job_timeout=timeout,
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
                rq_status = Job.fetch(job_id, connection=self.queue.connection,
                                      serializer=JSONSerializer).get_status()
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


def run_video_job(job_id, jobs_dir, settings):
    """The RQ task: process one video job in the worker process."""
    from webapp.jobs.store import JobStore

    store = JobStore(jobs_dir)
    # Still "processing": the worker of the last attempt died and RQ retries it.
    record_interrupted(store, job_id, retry=True)
    run_job(store, job_settings.engine(settings), job_id, job_settings.limits(settings),
            worker=f"rq/{os.getpid()}")
