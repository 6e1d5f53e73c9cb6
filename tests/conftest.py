"""Shared fixtures: sample files, the engine, an in-process app, a real server."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED_DIR = os.environ.get("SHARED_DIR", os.path.join(REPO_ROOT, "..", "shared"))
SAMPLES_DIR = os.path.join(SHARED_DIR, "samples")
DATA_DIR = os.path.join(SHARED_DIR, "data")
ARTIFACTS_DIR = os.path.join(REPO_ROOT, "tests", "artifacts")

sys.path.insert(0, os.path.dirname(__file__))  # for tests/synthetic.py


def shared_file(*parts):
    """Path of a file in ../shared, or skip the test with the reason."""
    path = os.path.join(SHARED_DIR, *parts)
    if not os.path.isfile(path):
        pytest.skip(f"{os.path.join(*parts)} is not available: the shared sample/data folder "
                    f"is not beside the repository (set SHARED_DIR to point at it)")
    return path


@pytest.fixture(scope="session")
def engine():
    from webapp.vision.pipeline import Engine

    return Engine()


@pytest.fixture()
def app(tmp_path):
    from webapp.app import create_app

    app = create_app({"ASYNC_MODE": "threading", "TESTING": True,
                      "JOBS_DIR": str(tmp_path / "jobs")})
    yield app
    app.extensions["job_runner"].stop()  # and its job worker process, if a job started one


@pytest.fixture()
def client(app):
    return app.test_client()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python wsgi.py` (the real eventlet server), or another command serving
    wsgi:app on {port}, in a subprocess."""

    def __init__(self, env=None, command=None, scheme="http", cwd=REPO_ROOT):
        import tempfile

        self.port = free_port()
        self.jobs_dir = os.path.join(tempfile.mkdtemp(prefix="instance-"), "jobs")
        env = {"JOBS_DIR": self.jobs_dir, **(env or {})}
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = os.path.join(ARTIFACTS_DIR, f"server-{self.port}.log")
        os.makedirs(ARTIFACTS_DIR, exist_ok=True)
        environment = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), **(env or {}))
        self.log = open(self.log_path, "w")
        command = [part.format(port=self.port) for part in command or [sys.executable, "wsgi.py"]]
        self.process = subprocess.Popen(command, cwd=cwd,
                                        env=environment, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log_path}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2,
                                       context=ssl._create_unverified_context())
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"server did not start in {timeout} s: see {self.log_path}")

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(os.path.dirname(self.jobs_dir), ignore_errors=True)


@pytest.fixture(scope="session")
def live_server():
    # Tests send frames back to back, faster than a camera: lift the per-connection
    # frame rate limit here (its own tests run it at its default).
    server = ServerProcess({"MAX_FRAME_RATE": "1000"})
    yield server
    server.stop()
