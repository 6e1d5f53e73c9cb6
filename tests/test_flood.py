"""A client that floods the live stream cannot hurt the others: against the
real eventlet server in a subprocess, with python-socketio clients."""
import threading
import time

import pytest
import socketio

from conftest import ServerProcess
from testkit.synthetic import jpeg, scene


@pytest.fixture(scope="module")
def server():
    process = ServerProcess({"MAX_FRAME_RATE": "30", "MAX_FRAME_REFUSALS": "60"})
    yield process
    process.stop()


def connect(url):
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=10)
    return client


def test_flooder_is_refused_and_disconnected_while_a_polite_client_is_served(server):
    frame = jpeg(scene(320, 240))
    flooder, polite = connect(server.url), connect(server.url)
    stream_errors, flood_answers = [], []
    flooder.on("stream_error", stream_errors.append)
    stop = threading.Event()

    def flood():
        while not stop.is_set() and flooder.connected:
            try:
                flooder.emit("frame", frame, callback=flood_answers.append)
            except socketio.exceptions.SocketIOError:
                break
            time.sleep(0.001)

    flooding = threading.Thread(target=flood)
    flooding.start()
    polite_answers = []
    try:
        deadline = time.monotonic() + 60  # generous: the machine may be busy
        while time.monotonic() < deadline and (len(polite_answers) < 20 or not stream_errors):
            polite_answers.append(polite.call("frame", frame, timeout=20))
            time.sleep(0.1)  # 10 fps, waiting for each answer
    finally:
        stop.set()
        flooding.join(10)
        polite.disconnect()
        flooder.disconnect()
    assert len(polite_answers) >= 20
    assert all(len(answer.get("faces", [])) == 1 for answer in polite_answers)
    assert stream_errors and stream_errors[0]["error"]["code"] == "flooding"
    refused = [a for a in flood_answers if a.get("dropped") or "error" in a]
    assert len(refused) >= 10
    assert server.alive()


def test_a_flooder_gone_leaves_the_server_serving(server):
    client = connect(server.url)
    try:
        assert len(client.call("frame", jpeg(scene(320, 240)), timeout=10)["faces"]) == 1
    finally:
        client.disconnect()
