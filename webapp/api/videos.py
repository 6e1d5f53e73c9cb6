"""Video jobs: upload, status, results, cancel and delete.

POST   /api/videos                    multipart field `video` -> 202 {"id", "token"}
GET    /api/videos/<id>               status, progress, frames, error
GET    /api/videos/<id>/video         the annotated MP4 (H.264, audio kept unless damaged)
GET    /api/videos/<id>/results.csv   one row per face per frame
GET    /api/videos/<id>/results.json
GET    /api/videos/<id>/summary       per person and the room (webapp/vision/summary.py)
POST   /api/videos/<id>/cancel        with the header X-Job-Token: <token>
DELETE /api/videos/<id>               with the header X-Job-Token: <token>

The id lets whoever holds it read a job; changing it takes the owner token,
which only the uploader received.
"""
import json
import os

from flask import current_app, jsonify, request, send_file

from webapp.api import bp
from webapp.errors import error_response
from webapp.jobs.store import public_view
from webapp.jobs.uploads import UploadRefused, accept_upload
from webapp.vision.summary import summarize

# kind in the URL -> (the store's file kind, MIME type, download name after the upload's)
DOWNLOADS = {
    "video": ("video", "video/mp4", "{stem}-annotated.mp4"),
    "results.csv": ("csv", "text/csv", "{stem}-results.csv"),
    "results.json": ("json", "application/json", "{stem}-results.json"),
    "summary": ("summary", "application/json", "{stem}-summary.json"),
}


def _store():
    return current_app.extensions["job_store"]


def _unknown():
    return error_response(404, "unknown_job", "no such video job (it may have expired)")


def _owner_refusal(job_id):
    """404 for an unknown job, 403 unless the request carries its owner token;
    None when the request may change the job."""
    store = _store()
    job = store.get(job_id)
    if job is None:
        return _unknown()
    if store.owned_by(job, request.headers.get("X-Job-Token")):
        return None
    return error_response(403, "forbidden", "this needs the job's owner token (the X-Job-Token "
                                            "header, given to the uploader)")


@bp.post("/videos")
def upload_video():
    upload = request.files.get("video")
    if upload is None:
        return error_response(400, "missing_field", "send the video as the multipart field 'video'")
    try:
        job_id, token = accept_upload(_store(), current_app.extensions["job_runner"], upload,
                                      request.content_length or 0, current_app.config)
    except UploadRefused as refusal:
        return error_response(refusal.status, refusal.code, refusal.message)
    return jsonify({"id": job_id, "token": token}), 202


@bp.get("/videos/<job_id>")
def video_status(job_id):
    job = _store().get(job_id)
    return jsonify(public_view(job)) if job else _unknown()


@bp.get("/videos/<job_id>/<any(video, 'results.csv', 'results.json', summary):kind>")
def video_download(job_id, kind):
    job = _store().get(job_id)
    if job is None:
        return _unknown()
    if job["status"] != "done":
        return error_response(409, "not_ready", f"the job is {job['status']}, not done")
    file_kind, mimetype, download_name = DOWNLOADS[kind]
    if kind == "summary" and not os.path.exists(_store().path(job_id, "summary")):
        _summarize_results(job_id)  # a job done before summaries were written
    return send_file(_store().path(job_id, file_kind), mimetype=mimetype,
                     as_attachment=request.args.get("download") == "1",
                     download_name=download_name.format(stem=job.get("name") or "video"),
                     conditional=True)


def _summarize_results(job_id):
    with open(_store().path(job_id, "json")) as f:
        figures = summarize(json.load(f))
    with open(_store().path(job_id, "summary"), "w") as f:
        json.dump(figures, f)


@bp.post("/videos/<job_id>/cancel")
def cancel_video(job_id):
    refusal = _owner_refusal(job_id)
    if refusal:
        return refusal
    store = _store()
    if store.update(job_id, only_if_status="queued", status="cancelled", cancel_requested=1):
        store.remove(job_id, ["input"])
    else:
        store.update(job_id, only_if_status="processing", cancel_requested=1)
    return jsonify(public_view(store.get(job_id)))


@bp.delete("/videos/<job_id>")
def delete_video(job_id):
    refusal = _owner_refusal(job_id)
    if refusal:
        return refusal
    store = _store()
    store.update(job_id, cancel_requested=1)
    store.delete(job_id)
    return "", 204
