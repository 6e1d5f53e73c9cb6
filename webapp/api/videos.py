"""Video jobs: upload, status, results, cancel and delete.

POST   /api/videos                    multipart field `video` -> 202 {"id", "token"}
GET    /api/videos/<id>               status, progress, frames, error
GET    /api/videos/<id>/video         the annotated MP4 (H.264, audio kept unless damaged)
GET    /api/videos/<id>/results.csv   one row per face per frame
GET    /api/videos/<id>/results.json
POST   /api/videos/<id>/cancel        with the header X-Job-Token: <token>
DELETE /api/videos/<id>               with the header X-Job-Token: <token>

The id lets whoever holds it read a job; changing it takes the owner token,
which only the uploader received.
"""
import os
import shutil

from flask import current_app, jsonify, request, send_file

from webapp import video
from webapp.api import bp
from webapp.errors import error_response
from webapp.jobs import tasks
from webapp.jobs.store import public_view

DOWNLOADS = {
    "video": (tasks.OUTPUT_VIDEO, "video/mp4", "annotated.mp4"),
    "results.csv": (tasks.RESULTS_CSV, "text/csv", "results.csv"),
    "results.json": (tasks.RESULTS_JSON, "application/json", "results.json"),
}


def _store():
    return current_app.extensions["job_store"]


def _unknown(job_id):
    return error_response(404, "unknown_job", "no such video job (it may have expired)")


def _storage_refusal(store, upload_bytes, config):
    """A 507 answer when the upload would not fit in the jobs' quota or disk."""
    quota = config["JOBS_DISK_QUOTA_BYTES"]
    needed = 2 * upload_bytes  # the upload, then an annotated video of about its size
    if store.disk_usage() + needed > quota:
        return error_response(507, "storage_full", "the server's storage for videos is full; "
                                                   "try again later")
    if shutil.disk_usage(store.jobs_dir).free < needed + 64 * 1024 * 1024:
        return error_response(507, "storage_full", "the server's disk is full; try again later")
    return None


def _owner_refusal(store, job):
    """403 unless the request carries the job's owner token."""
    if store.owned_by(job, request.headers.get("X-Job-Token")):
        return None
    return error_response(403, "forbidden", "this needs the job's owner token (the X-Job-Token "
                                            "header, given to the uploader)")


@bp.post("/videos")
def upload_video():
    upload = request.files.get("video")
    if upload is None:
        return error_response(400, "missing_field", "send the video as the multipart field 'video'")
    store, config = _store(), current_app.config
    refusal = _storage_refusal(store, request.content_length or 0, config)
    if refusal:
        return refusal
    job_id, token = store.create()
    input_path = os.path.join(store.folder(job_id), tasks.INPUT_NAME)
    upload.save(input_path)
    try:
        # A short ffmpeg run; under eventlet its pipes are green, in this green thread.
        info = video.probe(input_path, config["MAX_VIDEO_PIXELS"])
    except video.TooLarge as error:
        store.delete(job_id)
        return error_response(413, "too_large", str(error))
    except video.VideoError as error:
        store.delete(job_id)
        return error_response(415, "not_a_video", f"the file is not a video we can read: {error}")
    if info["duration"] > config["MAX_VIDEO_SECONDS"]:
        store.delete(job_id)
        return error_response(413, "too_long", f"the video lasts {info['duration']:.0f} s; the "
                                               f"limit is {config['MAX_VIDEO_SECONDS']} s")
    store.update(job_id, frames_total=info["frames"])
    current_app.extensions["job_runner"].submit(job_id)
    return jsonify({"id": job_id, "token": token}), 202


@bp.get("/videos/<job_id>")
def video_status(job_id):
    job = _store().get(job_id)
    return jsonify(public_view(job)) if job else _unknown(job_id)


@bp.get("/videos/<job_id>/<any(video, 'results.csv', 'results.json'):kind>")
def video_download(job_id, kind):
    job = _store().get(job_id)
    if job is None:
        return _unknown(job_id)
    if job["status"] != "done":
        return error_response(409, "not_ready", f"the job is {job['status']}, not done")
    filename, mimetype, download_name = DOWNLOADS[kind]
    return send_file(os.path.join(_store().folder(job_id), filename), mimetype=mimetype,
                     as_attachment=request.args.get("download") == "1",
                     download_name=download_name, conditional=True)


@bp.post("/videos/<job_id>/cancel")
def cancel_video(job_id):
    store = _store()
    job = store.get(job_id)
    if job is None:
        return _unknown(job_id)
    refusal = _owner_refusal(store, job)
    if refusal:
        return refusal
    if store.update(job_id, only_if_status="queued", status="cancelled", cancel_requested=1):
        input_path = os.path.join(store.folder(job_id), tasks.INPUT_NAME)
        if os.path.exists(input_path):
            os.remove(input_path)
    else:
        store.update(job_id, only_if_status="processing", cancel_requested=1)
    return jsonify(public_view(store.get(job_id)))


@bp.delete("/videos/<job_id>")
def delete_video(job_id):
    store = _store()
    job = store.get(job_id)
    if job is None:
        return _unknown(job_id)
    refusal = _owner_refusal(store, job)
    if refusal:
        return refusal
    store.update(job_id, cancel_requested=1)
    store.delete(job_id)
    return "", 204
