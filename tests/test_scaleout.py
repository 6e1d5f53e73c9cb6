"""Scale-out on Redis: two server processes behind one Redis, video jobs on a
separate `rq worker` process, progress reaching a client of the other server."""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import socketio

import clips
from conftest import ARTIFACTS_DIR, REPO_ROOT, ServerProcess, free_port
from test_faults import upload

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER),
                                reason="redis-server is not installed (apt-get install redis-server)")


@pytest.fixture(scope="module")
def redis_url():
    port = free_port()
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "redis-server did not start"
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def test_job_sent_to_one_server_runs_on_an_rq_worker_and_reaches_a_client_of_the_other(
        redis_url, tmp_path):
    env = {"REDIS_URL": redis_url, "JOBS_DIR": str(tmp_path / "jobs")}
    first, second = ServerProcess(env), ServerProcess(env)
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    worker_log = open(os.path.join(ARTIFACTS_DIR, "rq-worker.log"), "w")
    worker = subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "videos", "--url",
                               redis_url], cwd=REPO_ROOT, env=dict(os.environ, **env),
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
    finally:
        client.disconnect()
        worker.terminate()
        worker.wait(20)
        worker_log.close()
        first.stop()
        second.stop()
    with open(os.path.join(ARTIFACTS_DIR, "rq-worker.log")) as log:
        assert job_id in log.read()  # the RQ worker, not a web process, ran it
