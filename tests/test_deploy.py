"""Production serving: gunicorn's eventlet worker runs the same app."""
import sys

import socketio

from conftest import ServerProcess
from synthetic import jpeg, scene


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
