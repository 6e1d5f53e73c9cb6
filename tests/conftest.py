"""Shared fixtures: sample files, the engine, an in-process app, a real server;
and a check that the suite leaves no process of its own running."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED_DIR = os.environ.get("SHARED_DIR", os.path.join(REPO_ROOT, "..", "shared"))
SAMPLES_DIR = os.path.join(SHARED_DIR, "samples")
DATA_DIR = os.path.join(SHARED_DIR, "data")
ARTIFACTS_DIR = os.path.join(REPO_ROOT, "tests", "artifacts")

sys.path.insert(0, REPO_ROOT)  # webapp, training and testkit, wherever pytest starts


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


@pytest.fixture(scope="session")
def single_network(tmp_path_factory):
    """The shipped model's first member alone, as a model of one network (its
    file and a card of its own): for tests of one network's views."""
    import json

    folder = tmp_path_factory.mktemp("single")
    models = os.path.join(REPO_ROOT, "models")
    with open(os.path.join(models, "emotion.json")) as f:
        card = json.load(f)
    first = (card.get("members") or [card])[0]
    shutil.copy(os.path.join(models, first.get("file", "emotion.tflite")),
                folder / "emotion.tflite")
    single = {key: value for key, value in card.items()
              if key not in ("members", "combine", "temperature", "temperature_note")}
    single.update({key: first[key] for key in ("architecture", "parameters", "weights")
                   if key in first})
    single.update(crop_normalisation=first.get("crop_normalisation", "none"),
                  tta_zooms=first.get("tta_zooms", [1.0, 1.05]))
    (folder / "emotion.json").write_text(json.dumps(single))
    return str(folder / "emotion.tflite")


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


def wait_for_port(port, what, timeout=10):
    """Wait until something listens on 127.0.0.1:port; fail the test after `timeout` s."""
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.time() < deadline, f"{what} did not start"
            time.sleep(0.1)


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
        # Its own process group: stop() ends whatever it starts (a shell's child, workers).
        self.process = subprocess.Popen(command, cwd=cwd,
                                        env=environment, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
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

    def job_files(self):
        """Every folder and file under the jobs folder but the job store's SQLite
        database, whose -wal and -shm files come and go as connections open and close."""
        from webapp.jobs.store import DATABASE_FILE

        return {os.path.relpath(os.path.join(root, name), self.jobs_dir)
                for root, folders, files in os.walk(self.jobs_dir) for name in folders + files
                if not name.startswith(DATABASE_FILE)}

    def _signal_group(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def _group_alive(self):
        try:
            os.killpg(self.process.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def stop(self):
        """Stop the server and every process of its group (SIGTERM, then SIGKILL)."""
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(10)
        deadline = time.time() + 10
        while self._group_alive() and time.time() < deadline:
            time.sleep(0.1)
        self._signal_group(signal.SIGKILL)  # workers that outlived their master
        self.log.close()
        shutil.rmtree(os.path.dirname(self.jobs_dir), ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    """A server of the test module's own, at the default settings (a module that
    needs other settings defines its own `server`)."""
    server = ServerProcess()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server():
    # Tests send frames back to back, faster than a camera: lift the per-connection
    # frame rate limit here (its own tests run it at its default). At a million a
    # second a token comes back each microsecond, quicker than any acknowledgement
    # returns, so a client that waits for each one is never refused however fast
    # the CPU answers a malformed frame.
    server = ServerProcess({"MAX_FRAME_RATE": "1000000"})
    yield server
    server.stop()


# ---- no process left behind ----
# Every process the suite starts inherits this variable (and its value names this
# run), so one that outlives its test is found even after it has been orphaned.
SESSION_MARK = "EMOTION_TEST_SESSION"


def pytest_sessionstart(session):
    os.environ[SESSION_MARK] = f"{os.getpid()}-{uuid.uuid4().hex}"


def _processes():
    """{pid: (parent pid, state, environment bytes)} of every process, from /proc."""
    processes = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/environ", "rb") as f:
                environment = f.read()
        except OSError:  # gone, or not ours to read
            continue
        fields = stat.rsplit(")", 1)[1].split()
        processes[int(name)] = (int(fields[1]), fields[0], environment)
    return processes


def processes_started_here():
    """Live processes that carry this run's mark or descend from this process."""
    me = os.getpid()
    mark = f"{SESSION_MARK}={os.environ.get(SESSION_MARK)}".encode()
    processes = _processes()
    found = set()
    for pid, (_, state, environment) in processes.items():
        if pid == me or state == "Z":  # exited, waiting to be reaped
            continue
        if mark in environment.split(b"\0"):
            found.add(pid)
            continue
        parent = processes[pid][0]
        while parent > 1 and parent in processes and parent != me:
            parent = processes[parent][0]
        if parent == me:
            found.add(pid)
    return sorted(found)


def _command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if a process it started outlives it (after a short grace for
    processes still exiting), and kill what is left."""
    if SESSION_MARK not in os.environ:
        return
    deadline = time.time() + 10
    leftovers = processes_started_here()
    while leftovers and time.time() < deadline:
        time.sleep(0.5)
        leftovers = processes_started_here()
    if not leftovers:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  {pid} {_command_line(pid)}" for pid in leftovers]
    message = "\n".join([f"processes started by the tests are still running ({len(lines)}):",
                          *lines, "(killed now; the test that started them must stop them)"])
    if reporter:
        reporter.write_sep("=", "processes left behind", red=True)
        reporter.write_line(message)
    else:
        print(message, file=sys.stderr)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
