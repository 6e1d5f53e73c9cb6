"""Video jobs on RQ workers, for sites served by several processes (REDIS_URL).

The web processes enqueue job ids on the `videos` queue; `rq worker videos`
processes (on this machine or others sharing JOBS_DIR) run them with the same
task as the embedded runner, recording progress in the same job store, which
every web process reads to push progress to its clients.

    REDIS_URL=redis://localhost:6379/0 rq worker videos --url redis://localhost:6379/0
"""
from redis import Redis
from rq import Queue

from webapp.jobs.runner import sweep_forever

QUEUE_NAME = "videos"
_engines = {}


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

    def submit(self, job_id):
        self.store.update(job_id, status="queued")
        self.queue.enqueue(run_video_job, job_id, self.store.jobs_dir, self.model_path,
                           job_timeout=self.job_timeout, description=f"video job {job_id}")

    def ping(self):
        return self.queue.connection.ping()


def run_video_job(job_id, jobs_dir, model_path):
    """The RQ task: process one video job in the worker process."""
    from webapp.jobs.store import JobStore
    from webapp.jobs.tasks import run_job
    from webapp.vision.pipeline import Engine

    engine = _engines.get(model_path)
    if engine is None:
        engine = _engines[model_path] = Engine(model_path)
    run_job(JobStore(jobs_dir), engine, job_id)
