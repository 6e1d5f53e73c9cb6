"""The work of one video job, with progress and cancellation through the store."""
import errno
import logging
import os
import shutil
import sqlite3
import time

from webapp import video

INPUT_NAME = "input"
OUTPUT_VIDEO = "annotated.mp4"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"

log = logging.getLogger(__name__)


def run_job(store, engine, job_id):
    """Process one queued job, recording every outcome in the store (on a
    worker thread of the server, or in an RQ worker process)."""
    job = store.get(job_id)
    if job is None or job["status"] != "queued":
        return  # deleted or cancelled while it waited
    store.update(job_id, status="processing", attempts=job["attempts"] + 1)
    try:
        status, error = process_video(store, engine, job_id)
    except Exception as exception:
        log.exception("job %s crashed", job_id)
        status, error = "failed", f"internal error: {type(exception).__name__}"
    if store.get(job_id) is not None:
        store.update(job_id, status=status, error=error)


def record_interrupted(store, job_id, retry, who="server"):
    """Record a job whose process stopped in the middle of it: queued again
    for another attempt, or failed with the reason and its partial outputs
    removed. Jobs in any other state are left as they are."""
    job = store.get(job_id)
    if job is None or job["status"] != "processing":
        return
    if retry:
        store.update(job_id, status="queued", progress=0, frames_done=0)
        return
    _remove(_outputs(store.folder(job_id)))
    store.update(job_id, status="failed",
                 error=f"the {who} stopped while this job was processing, "
                       f"{job['attempts']} times")


def process_video(store, engine, job_id, progress_every=0.25):
    """Annotate the job's input; returns (status, error). On any failure the
    partial outputs are removed, which also frees the disk if it filled up."""
    folder = store.folder(job_id)
    outputs = _outputs(folder)
    last = {"progress": 0.0, "cancel_check": 0.0, "cancelled": False}

    def on_progress(done, total):
        now = time.monotonic()
        if now - last["progress"] >= progress_every or done == total:
            last["progress"] = now
            try:
                store.update(job_id, frames_done=done, frames_total=total,
                             progress=round(min(done / max(total, 1), 1.0), 4))
            except sqlite3.OperationalError as error:  # progress is best effort
                log.warning("job %s: progress not recorded: %s", job_id, error)

    def should_cancel():
        now = time.monotonic()
        if now - last["cancel_check"] >= progress_every:
            last["cancel_check"] = now
            job = store.get(job_id)
            last["cancelled"] = job is None or bool(job["cancel_requested"])
        return last["cancelled"]

    try:
        info, rows = video.annotate(engine, os.path.join(folder, INPUT_NAME), outputs[0],
                                    on_progress, should_cancel)
        video.write_csv(rows, outputs[1])
        video.write_json(info, rows, outputs[2])
    except video.Cancelled:
        _remove(outputs)
        return "cancelled", None
    except video.VideoError as error:
        _remove(outputs)
        return "failed", str(error)
    except OSError as error:
        _remove(outputs)
        return "failed", _write_failure(error, folder)
    os.remove(os.path.join(folder, INPUT_NAME))  # keep only what the visitor asked for
    store.update(job_id, frames_done=info["frames"], frames_total=info["frames"], progress=1.0)
    return "done", None


def _outputs(folder):
    return [os.path.join(folder, name) for name in (OUTPUT_VIDEO, RESULTS_CSV, RESULTS_JSON)]


def _remove(paths):
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def _write_failure(error, folder):
    """A clear reason for an output that could not be written."""
    if error.errno == errno.ENOSPC or shutil.disk_usage(folder).free < 1024 * 1024:
        return "the server's disk is full: the output could not be written"
    return f"the output could not be written: {error.strerror or error}"
