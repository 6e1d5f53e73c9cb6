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
