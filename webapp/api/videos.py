"""Video jobs: upload, status, results, cancel and delete.

POST   /api/videos                    multipart field `video` -> 202 {"id"}
GET    /api/videos/<id>               status, progress, frames, error
GET    /api/videos/<id>/video         the annotated MP4 (H.264, audio kept)
GET    /api/videos/<id>/results.csv   one row per face per frame
GET    /api/videos/<id>/results.json
POST   /api/videos/<id>/cancel
DELETE /api/videos/<id>
"""
import os

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


def _check_limits(info, config):
    """A refusal (status, code, message) for a video over the limits, or None."""
    if info["width"] * info["height"] > config["MAX_VIDEO_PIXELS"]:
        return 413, "too_large", (f"the video is {info['width']}x{info['height']}; the limit is "
                                  f"{config['MAX_VIDEO_PIXELS']} pixels per frame")
    if info["duration"] > config["MAX_VIDEO_SECONDS"]:
        return 413, "too_long", (f"the video lasts {info['duration']:.0f} s; the limit is "
                                 f"{config['MAX_VIDEO_SECONDS']} s")
    return None


@bp.post("/videos")
def upload_video():
    upload = request.files.get("video")
    if upload is None:
        return error_response(400, "missing_field", "send the video as the multipart field 'video'")
    store = _store()
    job_id = store.create()
    input_path = os.path.join(store.folder(job_id), tasks.INPUT_NAME)
    upload.save(input_path)
    try:
        info = current_app.extensions["run_blocking"](video.probe, input_path)
    except video.VideoError as error:
        store.delete(job_id)
        return error_response(415, "not_a_video", f"the file is not a video we can read: {error}")
    refusal = _check_limits(info, current_app.config)
    if refusal:
        store.delete(job_id)
        return error_response(*refusal)
    store.update(job_id, frames_total=info["frames"])
    current_app.extensions["job_runner"].submit(job_id)
    return jsonify({"id": job_id}), 202


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
    if job["status"] == "queued":
        store.update(job_id, status="cancelled", cancel_requested=1)
    elif job["status"] == "processing":
        store.update(job_id, cancel_requested=1)
    return jsonify(public_view(store.get(job_id)))


@bp.delete("/videos/<job_id>")
def delete_video(job_id):
    store = _store()
    if store.get(job_id) is None:
        return _unknown(job_id)
    store.update(job_id, cancel_requested=1)
    store.delete(job_id)
    return "", 204
