"""Video jobs through the HTTP API (in-process app, a real job worker process,
real ffmpeg decode/encode). The same through the real server: test_video_server.py."""
import csv
import io
import json
import os
import time

import imageio_ffmpeg
import pytest

from testkit import clips
from webapp.app import create_app


@pytest.fixture(scope="module")
def tone_clip(tmp_path_factory):
    return clips.drawn_clip(tmp_path_factory.mktemp("clip") / "tone.mp4")


_apps = []


def make_app(overrides):
    """An in-process app; its job worker process is stopped after the test."""
    app = create_app({"ASYNC_MODE": "threading", **overrides})
    _apps.append(app)
    return app


@pytest.fixture(autouse=True)
def stop_job_workers():
    yield
    while _apps:
        _apps.pop().extensions["job_runner"].stop()


def post_video(client, data, name="clip.mp4"):
    return client.post("/api/videos", data={"video": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def app_without_workers(jobs_dir):
    """An app whose jobs stay queued: as if the server stopped before running them."""
    return make_app({"JOBS_DIR": str(jobs_dir), "START_JOB_WORKERS": False})


def wait_finished(client, job_id, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/videos/{job_id}").get_json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job still {job['status']} after {timeout} s")


def test_video_round_trip(client, tone_clip, tmp_path):
    response = post_video(client, open(tone_clip, "rb").read())
    assert response.status_code == 202
    job_id, token = response.get_json()["id"], response.get_json()["token"]
    assert len(job_id) >= 22 and len(token) >= 32
    job = wait_finished(client, job_id)
    assert job == {"id": job_id, "status": "done", "progress": 1.0, "frames_done": 30,
                   "frames_total": 30, "error": None}

    annotated = tmp_path / "annotated.mp4"
    annotated.write_bytes(client.get(f"/api/videos/{job_id}/video").data)
    assert imageio_ffmpeg.count_frames_and_secs(str(annotated))[0] == 30
    assert clips.stream_codecs(annotated) == ["h264", "aac"]

    csv_rows = list(csv.DictReader(io.StringIO(
        client.get(f"/api/videos/{job_id}/results.csv").get_data(as_text=True))))
    json_rows = client.get(f"/api/videos/{job_id}/results.json").get_json()["rows"]
    assert len(csv_rows) == len(json_rows) == 29  # one row per frame from the second
    assert [int(r["frame"]) for r in csv_rows] == [r["frame"] for r in json_rows]
    assert all(a["emotion"] == b["emotion"] for a, b in zip(csv_rows, json_rows))

    download = client.get(f"/api/videos/{job_id}/video?download=1")
    assert "attachment" in download.headers["Content-Disposition"]
    partial = client.get(f"/api/videos/{job_id}/video", headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.data) == 100


def test_downloads_are_named_after_the_upload(client, tone_clip):
    response = post_video(client, open(tone_clip, "rb").read(), name="Our talk (final).MOV")
    job_id = response.get_json()["id"]
    assert wait_finished(client, job_id)["status"] == "done"
    for kind, name in (("video", "Our-talk-final-annotated.mp4"),
                       ("results.csv", "Our-talk-final-results.csv"),
                       ("results.json", "Our-talk-final-results.json")):
        download = client.get(f"/api/videos/{job_id}/{kind}?download=1")
        assert download.headers["Content-Disposition"] == f"attachment; filename={name}"


def test_non_video_file_is_refused_with_415_saying_why_once(client):
    response = post_video(client, b"%PDF-1.4 this is a document", name="movie.mp4")
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "not_a_video"
    assert error["message"] == ("the file is not a readable video: it is in none of the video "
                                "formats we accept")


def test_truncated_video_is_refused_with_415(client, app, tone_clip):
    """Cut short, an MP4 loses its index (written at its end): refused at once."""
    data = open(tone_clip, "rb").read()
    response = post_video(client, data[: len(data) // 3])
    assert response.status_code == 415
    assert "not a readable video" in response.get_json()["error"]["message"]
    assert os.listdir(app.extensions["job_store"].jobs_dir) == ["jobs.sqlite3"]  # nothing kept


def test_oversize_upload_is_413(tmp_path, tone_clip):
    app = make_app({"JOBS_DIR": str(tmp_path / "jobs"), "MAX_CONTENT_LENGTH": 1000})
    response = post_video(app.test_client(), open(tone_clip, "rb").read())
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_too_long_video_is_413_with_the_limit(tmp_path, tone_clip):
    app = make_app({"JOBS_DIR": str(tmp_path / "jobs"), "MAX_VIDEO_SECONDS": 1})
    response = post_video(app.test_client(), open(tone_clip, "rb").read())
    assert response.status_code == 413
    assert "limit is 1 s" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("job_id", ["nope", "A" * 24, "..%2F..%2Fetc%2Fpasswd", "../jobs.sqlite3"])
def test_unknown_or_malformed_job_ids_are_404(client, job_id):
    for path in (f"/api/videos/{job_id}", f"/api/videos/{job_id}/video",
                 f"/api/videos/{job_id}/results.csv"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] in ("unknown_job", "not_found")
    assert client.delete(f"/api/videos/{job_id}").status_code == 404


def test_missing_field_is_400(client):
    response = client.post("/api/videos", data={}, content_type="multipart/form-data")
    assert response.status_code == 400


def test_results_of_an_unfinished_job_are_409(tmp_path, tone_clip):
    client = app_without_workers(tmp_path / "jobs").test_client()
    job_id = post_video(client, open(tone_clip, "rb").read()).get_json()["id"]
    assert client.get(f"/api/videos/{job_id}").get_json()["status"] == "queued"
    assert client.get(f"/api/videos/{job_id}/video").status_code == 409


def test_delete_removes_the_job_and_its_files(client, app, tone_clip):
    answer = post_video(client, open(tone_clip, "rb").read()).get_json()
    job_id = answer["id"]
    wait_finished(client, job_id)
    folder = app.extensions["job_store"].folder(job_id)
    assert client.delete(f"/api/videos/{job_id}").status_code == 403
    assert os.path.exists(folder)
    assert client.delete(f"/api/videos/{job_id}",
                         headers={"X-Job-Token": answer["token"]}).status_code == 204
    assert client.get(f"/api/videos/{job_id}").status_code == 404
    assert not os.path.exists(folder)


def test_cancel_a_queued_job(tmp_path, tone_clip):
    client = app_without_workers(tmp_path / "jobs").test_client()
    answer = post_video(client, open(tone_clip, "rb").read()).get_json()
    refused = client.post(f"/api/videos/{answer['id']}/cancel")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    cancelled = client.post(f"/api/videos/{answer['id']}/cancel",
                            headers={"X-Job-Token": answer["token"]})
    assert cancelled.get_json()["status"] == "cancelled"


def test_restart_in_the_middle_of_a_queue_loses_no_job(tmp_path, tone_clip):
    jobs_dir = str(tmp_path / "jobs")
    stopped = app_without_workers(jobs_dir)
    client = stopped.test_client()
    ids = [post_video(client, open(tone_clip, "rb").read()).get_json()["id"] for _ in range(3)]
    # The first one was being processed when the server stopped.
    stopped.extensions["job_store"].update(ids[0], status="processing", attempts=1)

    restarted = make_app({"JOBS_DIR": jobs_dir})
    client = restarted.test_client()
    for job_id in ids:
        assert wait_finished(client, job_id)["status"] == "done"


def test_job_interrupted_too_often_is_failed_with_the_reason(tmp_path, tone_clip):
    jobs_dir = str(tmp_path / "jobs")
    stopped = app_without_workers(jobs_dir)
    job_id = post_video(stopped.test_client(), open(tone_clip, "rb").read()).get_json()["id"]
    stopped.extensions["job_store"].update(job_id, status="processing", attempts=2)
    restarted = make_app({"JOBS_DIR": jobs_dir})
    job = wait_finished(restarted.test_client(), job_id)
    assert job["status"] == "failed" and "server stopped" in job["error"]
    assert os.listdir(restarted.extensions["job_store"].folder(job_id)) == []  # input deleted


def test_expired_jobs_are_deleted(tmp_path, tone_clip):
    app = make_app({"JOBS_DIR": str(tmp_path / "jobs"), "JOB_RETENTION_SECONDS": 1})
    client = app.test_client()
    job_id = post_video(client, open(tone_clip, "rb").read()).get_json()["id"]
    wait_finished(client, job_id)
    deadline = time.time() + 10
    while client.get(f"/api/videos/{job_id}").status_code != 404:
        assert time.time() < deadline, "finished job not deleted after its retention time"
        time.sleep(0.2)


def test_results_json_describes_the_video(client, tone_clip):
    job_id = post_video(client, open(tone_clip, "rb").read()).get_json()["id"]
    wait_finished(client, job_id)
    body = json.loads(client.get(f"/api/videos/{job_id}/results.json").data)
    assert body["video"]["frames"] == 30 and body["video"]["audio"] is True
    assert body["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def test_uploads_over_the_rate_limit_get_429(tmp_path, tone_clip):
    app = make_app({"JOBS_DIR": str(tmp_path / "jobs"), "RATE_LIMIT_UPLOADS": "1 per hour",
                    "START_JOB_WORKERS": False})
    client = app.test_client()
    data = open(tone_clip, "rb").read()
    assert post_video(client, data).status_code == 202
    refused = post_video(client, data)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"


def test_uploads_are_stored_under_the_job_id_never_under_their_name(client, app, tone_clip):
    response = post_video(client, open(tone_clip, "rb").read(), name="../../../etc/evil.mp4")
    job_id = response.get_json()["id"]
    wait_finished(client, job_id)
    jobs_dir = app.extensions["job_store"].jobs_dir
    stored = {os.path.relpath(os.path.join(folder, name), jobs_dir)
              for folder, _, names in os.walk(jobs_dir) for name in names}
    assert all(path.startswith(job_id) or path.startswith("jobs.sqlite3") for path in stored)
    assert not any("evil" in path for path in stored)


def test_uploads_beyond_the_disk_quota_get_507(tmp_path, tone_clip):
    data = open(tone_clip, "rb").read()
    app = make_app({"JOBS_DIR": str(tmp_path / "jobs"), "START_JOB_WORKERS": False})
    client = app.test_client()
    assert post_video(client, data).status_code == 202
    assert post_video(client, data).status_code == 202
    # Room for the upload but not for its annotated video beside it.
    app.config["JOBS_DISK_QUOTA_BYTES"] = app.extensions["job_store"].disk_usage() + len(data)
    refused = post_video(client, data)
    assert refused.status_code == 507
    assert refused.get_json()["error"]["code"] == "storage_full"
    assert len(os.listdir(app.extensions["job_store"].jobs_dir)) == 3  # two jobs and the db


def test_stuck_jobs_expire_with_a_reason(tmp_path, tone_clip):
    from webapp.jobs.runner import sweep

    jobs_dir = str(tmp_path / "jobs")
    client = app_without_workers(jobs_dir).test_client()
    waiting, stalled, fresh = [post_video(client, open(tone_clip, "rb").read()).get_json()["id"]
                               for _ in range(3)]
    store = client.application.extensions["job_store"]
    store.update(stalled, status="processing")
    an_hour_ago = time.time() - 3600
    with store._db() as db:
        db.execute("UPDATE jobs SET created = ?, updated = ? WHERE id IN (?, ?)",
                   (an_hour_ago, an_hour_ago, waiting, stalled))
    sweep(store, retention_seconds=86400, queued_seconds=1800, stalled_seconds=600)
    assert store.get(waiting)["status"] == "failed"
    assert "waited in the queue for more than 1800 s" in store.get(waiting)["error"]
    assert store.get(stalled)["status"] == "failed"
    assert "no progress for 600 s" in store.get(stalled)["error"]
    assert os.listdir(store.folder(waiting)) == []  # their inputs are gone
    assert store.get(fresh)["status"] == "queued"


def test_a_failed_job_keeps_no_input(client, app, tmp_path):
    """A video that breaks a limit while processing fails; its upload is deleted."""
    clip = clips.drawn_clip(tmp_path / "long.mp4", frames=40, fps=10, audio=False)
    app.config["MAX_VIDEO_SECONDS"] = 600
    store = app.extensions["job_store"]
    runner = app.extensions["job_runner"]
    runner.settings["limits"]["max_frames"] = 20
    job_id = post_video(client, open(clip, "rb").read()).get_json()["id"]
    job = wait_finished(client, job_id)
    assert job["status"] == "failed" and "or 20 frames" in job["error"]
    assert os.listdir(store.folder(job_id)) == []


def test_frames_over_the_pixel_cap_are_413_with_the_size(tmp_path, tone_clip):
    app = make_app({"JOBS_DIR": str(tmp_path / "jobs"), "START_JOB_WORKERS": False,
                    "MAX_VIDEO_PIXELS": 320 * 200})
    response = post_video(app.test_client(), open(tone_clip, "rb").read())
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": "too_large", "message": "the video is 320x240; the limit is 64000 pixels per frame"}
