"""Scale-out on Redis: two server processes behind one Redis, video jobs on a
separate `rq worker` process, progress reaching a client of the other server."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import socketio

from testkit import clips
from testkit import videocheck
from conftest import ARTIFACTS_DIR, REPO_ROOT, ServerProcess, free_port, wait_for_port
from test_faults import status, upload, wait_for
from webapp.jobs.redis_queue import RQRunner
from webapp.jobs.store import JobStore

SERIALIZER = "rq.serializers.JSONSerializer"  # jobs travel as JSON, never pickles
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER),
                                reason="redis-server is not installed (apt-get install redis-server)")


@pytest.fixture(scope="module")
def redis_url():
    port = free_port()
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, "redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def test_job_sent_to_one_server_runs_on_an_rq_worker_and_reaches_a_client_of_the_other(
        redis_url, tmp_path):
    # Not the default detector: the job must carry the web's setting to the worker.
    env = {"REDIS_URL": redis_url, "JOBS_DIR": str(tmp_path / "jobs"), "FACE_DETECTOR": "haar"}
    first, second = ServerProcess(env), ServerProcess(env)
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    worker_log = open(os.path.join(ARTIFACTS_DIR, "rq-worker.log"), "w")
    worker = subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "videos", "--url",
                               redis_url, "--serializer", SERIALIZER], cwd=REPO_ROOT, env=dict(os.environ, **env),
                              stdout=worker_log, stderr=subprocess.STDOUT)
    events, finished = [], threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("job")
    def on_job(job):
        events.append(job)
        if job["status"] in ("done", "failed"):
            finished.set()

    try:
        client.connect(second.url, transports=["websocket"], wait_timeout=10)
        clip = clips.drawn_clip(tmp_path / "clip.mp4", frames=90)
        job_id = upload(first.url, clip)
        assert client.call("watch_job", job_id, timeout=10)["id"] == job_id
        assert finished.wait(120), f"no final event; saw {events}"
        assert events[-1]["status"] == "done" and events[-1]["frames_done"] == 90
        assert len({e["frames_done"] for e in events}) >= 2  # progress, not only the end
        answer = urllib.request.urlopen(f"{second.url}/api/videos/{job_id}", timeout=10)
        assert json.load(answer)["status"] == "done"
        ready = json.load(urllib.request.urlopen(first.url + "/readyz", timeout=10))
        assert ready["checks"]["queue"] == "ok"
        # The annotated video is right, frame by frame.
        report = videocheck.check_annotated(clip, *videocheck.download_results(
            second.url, job_id, tmp_path))
        assert report["frames_out"] == report["frames_in"] == 90
        assert report["matching"] == 1.0 and report["streams"] == ["h264", "aac"]
        # The job went through Redis as JSON (no pickle), with the web's detector setting.
        from redis import Redis
        import zlib

        stored = Redis.from_url(redis_url).hget(f"rq:job:{job_id}", "data")
        function, _, args, _ = json.loads(zlib.decompress(stored))
        assert function == "webapp.jobs.redis_queue.run_video_job"
        assert args[0] == job_id and args[2]["detector"] == "haar"
    finally:
        client.disconnect()
        worker.terminate()
        worker.wait(20)
        worker_log.close()
        first.stop()
        second.stop()
    with open(os.path.join(ARTIFACTS_DIR, "rq-worker.log")) as log:
        assert job_id in log.read()  # the RQ worker, not a web process, ran it


def start_worker(redis_url, env, name):
    """`rq worker videos` in its own process group; its log goes to the artifacts."""
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    with open(os.path.join(ARTIFACTS_DIR, f"rq-{name}.log"), "w") as log:
        return subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "videos", "--url",
                                 redis_url, "--serializer", SERIALIZER], cwd=REPO_ROOT, env=dict(os.environ, **env),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def work_horses(worker):
    """Pids of the processes RQ forked to run jobs (each in its own group)."""
    with open(f"/proc/{worker.pid}/task/{worker.pid}/children") as f:
        return [int(pid) for pid in f.read().split()]


def kill_mid_job(url, job_id, worker, horse_only=False):
    """SIGKILL the worker (or only its work horse) once the job is under way."""
    wait_for(lambda: status(url, job_id)["frames_done"] > 0, timeout=60)
    horses = work_horses(worker)
    assert horses, "no work horse running the job"
    if not horse_only:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def rq_site(redis_url, tmp_path):
    """One server on Redis, a runner to ask RQ about abandoned jobs, and a long clip."""
    env = {"REDIS_URL": redis_url, "JOBS_DIR": str(tmp_path / "jobs")}
    server = ServerProcess(env)
    runner = RQRunner(JobStore(env["JOBS_DIR"]), redis_url, None, None, None)
    clip = clips.drawn_clip(tmp_path / "long.mp4", frames=900, fps=30, audio=False)
    workers = []
    yield env, server, runner, clip, workers
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)
    server.stop()
    runner.queue.empty()


# RQ counts a job abandoned 60-90 s after its dead worker's last heartbeat;
# the test moves RQ's clock past that instead of waiting.
AFTER_HEARTBEATS_EXPIRE = 150


def test_a_job_whose_rq_worker_is_killed_is_retried_on_another_worker(rq_site, redis_url):
    env, server, runner, clip, workers = rq_site
    job_id = upload(server.url, clip)
    workers.append(start_worker(redis_url, env, "killed"))
    kill_mid_job(server.url, job_id, workers[-1])

    runner.reap()  # the dead worker's heartbeat has not expired yet
    assert status(server.url, job_id)["status"] == "processing"
    assert runner.queue.acquire_maintenance_lock()  # as if another process were reaping
    runner.reap(time.time() + AFTER_HEARTBEATS_EXPIRE)
    assert status(server.url, job_id)["status"] == "processing"
    runner.queue.release_maintenance_lock()
    runner.reap(time.time() + AFTER_HEARTBEATS_EXPIRE)
    assert status(server.url, job_id)["status"] == "queued"
    assert runner.queue.count == 1  # queued again once

    workers.append(start_worker(redis_url, env, "second"))
    wait_for(lambda: status(server.url, job_id)["status"] not in ("queued", "processing"))
    job = status(server.url, job_id)
    assert job["status"] == "done" and job["frames_done"] == 900, job
    assert runner.store.get(job_id)["attempts"] == 2


def test_a_job_whose_work_horse_dies_twice_fails_with_the_reason(rq_site, redis_url):
    env, server, runner, clip, workers = rq_site
    job_id = upload(server.url, clip)
    workers.append(start_worker(redis_url, env, "oom"))
    kill_mid_job(server.url, job_id, workers[-1], horse_only=True)
    # RQ requeues it at once and the same (living) worker starts it again.
    wait_for(lambda: runner.store.get(job_id)["attempts"] == 2, timeout=60)
    kill_mid_job(server.url, job_id, workers[-1], horse_only=True)
    wait_for(lambda: runner.queue.failed_job_registry.count == 1, timeout=30)

    runner.reap()
    job = status(server.url, job_id)
    assert job["status"] == "failed", job
    assert "worker stopped while this job was processing, 2 times" in job["error"]
    folder = runner.store.folder(job_id)
    assert os.listdir(folder) == []  # partial outputs and the upload removed
    assert workers[-1].poll() is None  # the worker itself lives on
