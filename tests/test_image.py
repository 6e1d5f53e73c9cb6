"""The Docker image, built for real (deploy/build_image.sh: buildah on a base made with
debootstrap) and run as its CMD says, with its own user, folder and environment:
/healthz, /readyz, a frame over Socket.IO and its HEALTHCHECK must work.

Set SKIP_IMAGE_BUILD=1 to leave it out (it takes a few minutes cold)."""
import json
import os
import shutil
import subprocess
import urllib.request

import pytest
import socketio

from conftest import REPO_ROOT, SESSION_MARK, ServerProcess
from testkit.synthetic import jpeg, scene

TAG = "localhost/emotion-webapp:test"
STORE = os.environ.get("IMAGE_STORE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "emotion-webapp", "containers")
BUILDAH = ["buildah", "--root", os.path.join(STORE, "storage"),
           "--runroot", os.path.join(STORE, "run"), "--storage-driver", "vfs"]


def why_not_buildable():
    if os.environ.get("SKIP_IMAGE_BUILD"):
        return "SKIP_IMAGE_BUILD is set"
    missing = [tool for tool in ("buildah", "debootstrap") if not shutil.which(tool)]
    if missing:
        return (f"{' and '.join(missing)} not installed (apt-get install "
                f"--no-install-recommends buildah debootstrap)")
    if os.geteuid() != 0:
        return "building the base with debootstrap needs root"
    return None


pytestmark = pytest.mark.skipif(why_not_buildable() is not None,
                                reason=f"the image is not built: {why_not_buildable()}")


def buildah(*args, **kwargs):
    return subprocess.run(BUILDAH + list(args), check=True, capture_output=True, text=True,
                          timeout=120, **kwargs).stdout.strip()


@pytest.fixture(scope="module")
def image():
    """The image, built now (the debootstrapped base is reused when the store has it)."""
    build = subprocess.run(["bash", os.path.join(REPO_ROOT, "deploy", "build_image.sh"), TAG],
                           env=dict(os.environ, IMAGE_STORE=STORE), timeout=1500,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    config = json.loads(buildah("inspect", "--type", "image", TAG))["Docker"]["config"]
    return config


@pytest.fixture()
def container(image):
    """A working container of the image, removed afterwards."""
    name = buildah("from", "--pull-never", TAG)
    try:
        yield name
    finally:
        buildah("rm", name)


def run_in(container, *command, env=None):
    """`buildah run` of a command in the container, on the host's network."""
    options = ["--isolation", "chroot", "--network", "host",
               "--env", f"{SESSION_MARK}={os.environ.get(SESSION_MARK, '')}"]
    for key, value in (env or {}).items():
        options += ["--env", f"{key}={value}"]
    return BUILDAH + ["run", *options, container, "--", *command]


def test_the_image_has_the_app_its_user_and_no_build_tools(image, container):
    assert image["User"] == "app"
    assert image["WorkingDir"] == "/app"
    assert "JOBS_DIR=/data/jobs" in image["Env"]
    listing = subprocess.run(run_in(container, "sh", "-c", "id -un; ls /app; ls /app/models"),
                             capture_output=True, text=True, timeout=60, check=True).stdout
    lines = listing.split()
    assert lines[0] == "app"
    assert {"wsgi.py", "webapp", "static", "templates", "models"} <= set(lines)
    assert "emotion.tflite" in lines and "emotion.json" in lines
    assert not {"tests", "training", "bench", ".git"} & set(lines)


def test_the_images_command_serves_health_readiness_and_frames(image, container):
    command, healthcheck = image["Cmd"], image["Healthcheck"]["Test"]
    assert healthcheck[0] == "CMD-SHELL"
    server = ServerProcess(command=run_in(container, *command,
                                          env={"HOST": "127.0.0.1", "PORT": "{port}"}))
    try:
        health = json.load(urllib.request.urlopen(server.url + "/healthz", timeout=10))
        assert health == {"status": "ok"}
        ready = json.load(urllib.request.urlopen(server.url + "/readyz", timeout=30))
        assert ready["checks"]["model"] == "ok", ready
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
        result = client.call("frame", jpeg(scene(640, 480)), timeout=30)
        client.disconnect()
        assert len(result["faces"]) == 1 and result["frame"] == {"width": 640, "height": 480}
        probe = subprocess.run(run_in(container, "/bin/sh", "-c", healthcheck[1],
                                      env={"PORT": str(server.port)}),
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        assert "gunicorn" in open(server.log_path).read().lower()
    finally:
        server.stop()
