"""Production serving: gunicorn's eventlet worker runs the same app."""
import sys

import socketio

from conftest import ServerProcess
from testkit.synthetic import jpeg, scene


def test_gunicorn_eventlet_worker_serves_pages_and_frames():
    server = ServerProcess(command=[sys.executable, "-m", "gunicorn", "-k", "eventlet", "-w", "1",
                                    "-b", "127.0.0.1:{port}", "wsgi:app"])
    try:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
        result = client.call("frame", jpeg(scene(640, 480)), timeout=30)
        client.disconnect()
        assert len(result["faces"]) == 1
        assert server.alive()
    finally:
        server.stop()


def test_self_signed_https_for_development():
    import os
    import ssl
    import urllib.request

    server = ServerProcess(env={"TLS_SELF_SIGNED": "1"}, scheme="https")
    try:
        certificate = os.path.join(os.path.dirname(server.jobs_dir), "tls", "cert.pem")
        trusting_it = ssl.create_default_context(cafile=certificate)  # and its names
        page = urllib.request.urlopen(server.url + "/", context=trusting_it, timeout=10)
        assert page.status == 200
        client = socketio.Client(reconnection=False, ssl_verify=False)
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
        assert len(client.call("frame", jpeg(scene(640, 480)), timeout=30)["faces"]) == 1
        client.disconnect()
    finally:
        server.stop()


def dockerfile():
    """The Dockerfile's instructions as (keyword, argument), continuation lines joined."""
    import os
    import re

    from conftest import REPO_ROOT

    with open(os.path.join(REPO_ROOT, "Dockerfile")) as f:
        text = re.sub(r"\\\n\s*", "", f.read())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_the_docker_images_files_env_and_command_serve_the_app(tmp_path):
    """No Docker engine here: lay out what the Dockerfile copies (checked against
    .dockerignore) in an empty folder, and run its CMD there with its ENV."""
    import json
    import os
    import shlex
    import shutil
    import subprocess
    import urllib.request

    from conftest import REPO_ROOT

    with open(os.path.join(REPO_ROOT, ".dockerignore")) as f:
        ignored = {line.strip().rstrip("/") for line in f if line.strip()}
    app_dir, env, command, healthcheck = tmp_path / "app", {}, None, None
    app_dir.mkdir()
    for keyword, argument in dockerfile():
        if keyword == "COPY":
            *sources, target = argument.split()
            for source in sources:
                assert source not in ignored, f"{source} is copied but .dockerignore drops it"
                into_folder = target in (".", "./") or len(sources) > 1
                copy = (shutil.copytree if os.path.isdir(os.path.join(REPO_ROOT, source))
                        else shutil.copy)
                copy(os.path.join(REPO_ROOT, source),
                     app_dir / (source if into_folder else target))
        elif keyword == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(argument))
        elif keyword == "CMD":
            command = argument
        elif keyword == "HEALTHCHECK":
            healthcheck = argument.split(" CMD ", 1)[1]
    assert command and healthcheck
    env = {key: value for key, value in env.items() if key not in ("HOST", "PORT", "JOBS_DIR")}
    server = ServerProcess(env, command=["sh", "-c", command], cwd=app_dir)
    try:
        ready = json.load(urllib.request.urlopen(server.url + "/readyz", timeout=10))
        assert ready["checks"]["model"] == "ok", ready
        for path in ("/", "/upload", "/static/js/live.js", "/static/vendor/socket.io.min.js"):
            assert urllib.request.urlopen(server.url + path, timeout=10).status == 200, path
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
        assert len(client.call("frame", jpeg(scene(640, 480)), timeout=30)["faces"]) == 1
        client.disconnect()
        probe = subprocess.run(["sh", "-c", healthcheck], cwd=app_dir, timeout=30,
                               env=dict(os.environ, PORT=str(server.port)))
        assert probe.returncode == 0
        assert "gunicorn" in open(server.log_path).read().lower()
    finally:
        server.stop()
