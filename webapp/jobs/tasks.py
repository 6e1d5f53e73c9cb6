"""The work of one video job, with progress, cancellation and outcome recorded
in the store (run by the job worker process, or by an RQ worker)."""
import errno
import json
import logging
import shutil
import sqlite3
import time

from webapp import video
from webapp.jobs.store import OUTPUTS

log = logging.getLogger(__name__)


def run_job(store, engine, job_id, limits=None, stop=None, worker=None):
    """Claim a queued job (counting an attempt) and process it. Does nothing
    if the job is gone, cancelled or claimed by someone else meanwhile."""
    job = store.get(job_id)
    if job is None or job["status"] != "queued":
        return
    if store.update(job_id, only_if_status="queued", status="processing",
                    attempts=job["attempts"] + 1, worker=worker):
        run_claimed_job(store, engine, job_id, limits, stop)


def run_claimed_job(store, engine, job_id, limits=None, stop=None):
    """Process a job already marked "processing", recording every outcome. A
    stop (shutdown) puts it back in the queue without counting the attempt."""
    try:
        status, error = process_video(store, engine, job_id, limits, stop)
    except video.Interrupted:
        job = store.get(job_id)
        if job is not None:
            store.update(job_id, only_if_status="processing", status="queued", progress=0,
                         frames_done=0, attempts=max(0, job["attempts"] - 1), worker=None)
        log.info("job %s put back in the queue: the worker is stopping", job_id)
        return
    except Exception as exception:
        log.exception("job %s crashed", job_id)
        status, error = "failed", f"internal error: {type(exception).__name__}"
    store.update(job_id, only_if_status="processing", status=status, error=error)
    if status != "done":
        store.remove(job_id, ["input"])


def record_interrupted(store, job_id, retry, who="server"):
    """Record a job whose process stopped in the middle of it: queued again
    for another attempt, or failed with the reason and its files removed.
    Jobs in any other state are left as they are."""
    job = store.get(job_id)
    if job is None or job["status"] != "processing":
        return
    if retry:
        store.update(job_id, only_if_status="processing", status="queued", progress=0,
                     frames_done=0, worker=None)
        return
    store.remove(job_id, [*OUTPUTS, "input"])
    store.update(job_id, only_if_status="processing", status="failed",
                 error=f"the {who} stopped while this job was processing, "
                       f"{job['attempts']} times")


def expire_stuck(store, queued_seconds, stalled_seconds):
    """Fail, with the reason, jobs that waited too long in the queue or whose
    processing stopped making progress; their files are removed."""
    for job_id, status in store.stuck(queued_seconds, stalled_seconds):
        reason = (f"expired: it waited in the queue for more than {queued_seconds:g} s"
                  if status == "queued" else
                  f"expired: processing made no progress for {stalled_seconds:g} s")
        if store.update(job_id, only_if_status=status, status="failed", error=reason):
            store.remove(job_id, [*OUTPUTS, "input"])
            log.warning("job %s %s", job_id, reason)


def process_video(store, engine, job_id, limits=None, stop=None, progress_every=0.25):
    """Annotate the job's input; returns (status, error). On any failure the
    partial outputs are removed, which also frees the disk if it filled up."""
    job = store.get(job_id)
    probed = json.loads(job["probe"]) if job and job.get("probe") else None
    last = {"progress": 0.0, "cancel_check": 0.0, "cancelled": False}

    def on_progress(done, total):
        now = time.monotonic()
        if now - last["progress"] >= progress_every or done == total:
            last["progress"] = now
            try:
                store.update(job_id, only_if_status="processing", frames_done=done,
                             frames_total=total,
                             progress=round(min(done / max(total, 1), 1.0), 4))
            except sqlite3.OperationalError as error:  # progress is best effort
                log.warning("job %s: progress not recorded: %s", job_id, error)

    def should_cancel():
        now = time.monotonic()
        if now - last["cancel_check"] >= progress_every:
            last["cancel_check"] = now
            job = store.get(job_id)
            last["cancelled"] = (job is None or bool(job["cancel_requested"])
                                 or job["status"] != "processing")
        return last["cancelled"]

    path = lambda kind: store.path(job_id, kind)  # noqa: E731
    try:
        info = video.annotate(engine, path("input"), path("video"), path("csv"), on_progress,
                              should_cancel, stop, limits, json_path=path("json"),
                              probed=probed, summary_path=path("summary"))
    except video.Cancelled:
        store.remove(job_id, OUTPUTS)
        return "cancelled", None
    except video.Interrupted:
        store.remove(job_id, OUTPUTS)
        raise
    except video.VideoError as error:
        store.remove(job_id, OUTPUTS)
        return "failed", str(error)
    except OSError as error:
        store.remove(job_id, OUTPUTS)
        return "failed", _write_failure(error, store.folder(job_id))
    store.remove(job_id, ["input"])  # keep only what the visitor asked for
    store.update(job_id, only_if_status="processing", frames_done=info["frames"],
                 frames_total=info["frames"], progress=1.0)
    return "done", None


def _write_failure(error, folder):
    """A clear reason for an output that could not be written."""
    if error.errno == errno.ENOSPC or shutil.disk_usage(folder).free < 1024 * 1024:
        return "the server's disk is full: the output could not be written"
    if error.strerror is None:  # the encoder's own reason (video.ENCODER_FAILED: ...)
        return str(error)
    return f"the output could not be written: {error.strerror}"
