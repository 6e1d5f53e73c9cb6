"""The work of one video job, with progress and cancellation through the store."""
import logging
import os
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


def process_video(store, engine, job_id, progress_every=0.25):
    """Annotate the job's input; returns (status, error)."""
    folder = store.folder(job_id)
    last = {"progress": 0.0, "cancel_check": 0.0, "cancelled": False}

    def on_progress(done, total):
        now = time.monotonic()
        if now - last["progress"] >= progress_every or done == total:
            last["progress"] = now
            store.update(job_id, frames_done=done, frames_total=total,
                         progress=round(min(done / max(total, 1), 1.0), 4))

    def should_cancel():
        now = time.monotonic()
        if now - last["cancel_check"] >= progress_every:
            last["cancel_check"] = now
            job = store.get(job_id)
            last["cancelled"] = job is None or bool(job["cancel_requested"])
        return last["cancelled"]

    try:
        info, rows = video.annotate(engine, os.path.join(folder, INPUT_NAME),
                                    os.path.join(folder, OUTPUT_VIDEO), on_progress,
                                    should_cancel)
    except video.Cancelled:
        return "cancelled", None
    except video.VideoError as error:
        return "failed", str(error)
    except OSError as error:
        return "failed", f"could not write the output: {error.strerror or error}"
    video.write_csv(rows, os.path.join(folder, RESULTS_CSV))
    video.write_json(info, rows, os.path.join(folder, RESULTS_JSON))
    os.remove(os.path.join(folder, INPUT_NAME))  # keep only what the visitor asked for
    store.update(job_id, frames_done=info["frames"], frames_total=info["frames"], progress=1.0)
    return "done", None
