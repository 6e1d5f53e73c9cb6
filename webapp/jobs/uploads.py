"""An uploaded video becomes a queued job, or is refused with the reason.

    job_id, token = accept_upload(store, runner, upload, content_length, config)

The file is saved, probed once (ffmpeg reads its header and first frame: a
short run; under eventlet its pipes are green) and checked against the
limits; the probe is kept on the job, so the job worker does not read it
again. A refused upload leaves nothing behind.
"""
import json
import os
import re
import shutil

from webapp import video

MIN_FREE_DISK = 64 * 1024 * 1024


class UploadRefused(Exception):
    """The upload is not taken: an HTTP status, an error code and a message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def accept_upload(store, runner, upload, content_length, config):
    """Store `upload` (a werkzeug FileStorage) as a queued job and submit it to
    `runner`: (job id, owner token). Raises UploadRefused."""
    _check_room(store, content_length, config["JOBS_DISK_QUOTA_BYTES"])
    job_id, token = store.create()
    try:
        upload.save(store.path(job_id, "input"))
        facts = _probe(store.path(job_id, "input"), config)
    except BaseException:
        store.delete(job_id)
        raise
    store.update(job_id, frames_total=facts["frames"], name=download_stem(upload.filename),
                 probe=json.dumps(facts))
    runner.submit(job_id)
    return job_id, token


def _check_room(store, upload_bytes, quota):
    needed = 2 * upload_bytes  # the upload, then an annotated video of about its size
    if store.disk_usage() + needed > quota:
        raise UploadRefused(507, "storage_full", "the server's storage for videos is full; "
                                                 "try again later")
    if shutil.disk_usage(store.jobs_dir).free < needed + MIN_FREE_DISK:
        raise UploadRefused(507, "storage_full", "the server's disk is full; try again later")


def _probe(path, config):
    try:
        facts = video.probe(path, config["MAX_VIDEO_PIXELS"])
    except video.TooLarge as error:
        raise UploadRefused(413, "too_large", str(error)) from None
    except video.VideoError as error:
        raise UploadRefused(415, "not_a_video", f"the file is {error}") from None
    if facts["duration"] > config["MAX_VIDEO_SECONDS"]:
        raise UploadRefused(413, "too_long", f"the video lasts {facts['duration']:.0f} s; the "
                                             f"limit is {config['MAX_VIDEO_SECONDS']} s")
    return facts


def download_stem(filename):
    """A safe stem for the job's downloads, from the upload's file name
    ("Our talk (final).MOV" -> "Our-talk-final"); "video" if nothing is left."""
    stem = os.path.splitext(os.path.basename((filename or "").replace("\\", "/")))[0]
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.ASCII).strip("-.")[:80]
    return stem or "video"
