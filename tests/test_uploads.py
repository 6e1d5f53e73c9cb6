"""The upload service: a video becomes a queued job probed once; a refused one
leaves nothing behind (in process, real ffmpeg)."""
import io
import json
import os

import pytest
from werkzeug.datastructures import FileStorage

from testkit import clips
from webapp import video
from webapp.jobs import tasks
from webapp.jobs.store import JobStore
from webapp.jobs.uploads import UploadRefused, accept_upload, download_stem

CONFIG = {"JOBS_DISK_QUOTA_BYTES": 1 << 30, "MAX_VIDEO_PIXELS": 7680 * 4320,
          "MAX_VIDEO_SECONDS": 600}


class Runner:
    def __init__(self):
        self.submitted = []

    def submit(self, job_id):
        self.submitted.append(job_id)


def upload_of(path, name="clip.mp4"):
    return FileStorage(io.BytesIO(open(path, "rb").read()), filename=name)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return clips.drawn_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


def test_an_accepted_upload_is_probed_once_and_the_job_reads_no_header_again(
        engine, clip, tmp_path, monkeypatch):
    store, runner = JobStore(tmp_path / "jobs"), Runner()
    job_id, token = accept_upload(store, runner, upload_of(clip, "My clip.mp4"), 0, CONFIG)
    job = store.get(job_id)
    assert runner.submitted == [job_id] and store.owned_by(job, token)
    assert job["name"] == "My-clip" and job["frames_total"] == 30
    assert json.loads(job["probe"])["frames"] == 30

    def no_second_probe(*args, **kwargs):
        raise AssertionError("the job probed its input again")

    monkeypatch.setattr(video, "probe", no_second_probe)
    store.update(job_id, status="queued")
    tasks.run_job(store, engine, job_id)
    assert store.get(job_id)["status"] == "done"
    assert sorted(os.listdir(store.folder(job_id))) == [
        "annotated.mp4", "results.csv", "results.json", "summary.json"]


@pytest.mark.parametrize("data, config, status, code", [
    (b"not a video", {}, 415, "not_a_video"),
    (None, {"MAX_VIDEO_SECONDS": 0}, 413, "too_long"),
    (None, {"MAX_VIDEO_PIXELS": 100}, 413, "too_large"),
    (None, {"JOBS_DISK_QUOTA_BYTES": 10}, 507, "storage_full"),
])
def test_a_refused_upload_says_why_and_leaves_nothing(clip, tmp_path, data, config, status,
                                                      code):
    store, runner = JobStore(tmp_path / "jobs"), Runner()
    upload = (FileStorage(io.BytesIO(data), filename="x.mp4") if data is not None
              else upload_of(clip))
    with pytest.raises(UploadRefused) as refused:
        accept_upload(store, runner, upload, 1000, {**CONFIG, **config})
    assert (refused.value.status, refused.value.code) == (status, code)
    assert runner.submitted == [] and os.listdir(store.jobs_dir) == ["jobs.sqlite3"]


@pytest.mark.parametrize("filename, stem", [
    ("Our talk (final).MOV", "Our-talk-final"),
    ("C:\\Users\\me\\clip.mp4", "clip"),
    ("../../etc/passwd", "passwd"),
    ("", "video"),
    ("....mp4", "mp4"),
    ("...", "video"),
    ("résumé vidéo.mp4", "r-sum-vid-o"),
])
def test_download_names_are_safe_stems_of_the_upload(filename, stem):
    assert download_stem(filename) == stem
