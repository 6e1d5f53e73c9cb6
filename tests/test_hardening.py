"""The real server under abuse: slow and idle connections, descriptor leaks,
forged proxy headers. Each test runs `python wsgi.py` (or gunicorn) in a
subprocess and attacks it with real sockets."""
import concurrent.futures
import json
import os
import resource
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest
import socketio

from conftest import ServerProcess
from testkit.descriptors import settled_descriptors
from testkit.synthetic import jpeg, scene

UNLIMITED = {"RATE_LIMIT_API": "100000 per minute", "RATE_LIMIT_ANALYZE": "100000 per minute"}
# The shipped limits, with a short SOCKET_TIMEOUT that the idle WebSocket test can outlast;
# the API limit is low for the forged-address test.
LIMITS = {"HEADER_TIMEOUT": "10", "SOCKET_TIMEOUT": "3", "MAX_CONNECTIONS_PER_ADDRESS": "100",
          "RATE_LIMIT_API": "20 per minute"}
SERVERS = {"python wsgi.py": None,
           "gunicorn": [sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:{port}", "wsgi:app"]}
HALF_OPEN_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # the blank line never comes


@pytest.fixture(scope="module", params=list(SERVERS))
def guarded_server(request):
    """The real server with the shipped connection limits (gunicorn: gunicorn.conf.py)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # this process opens 1,100 sockets at once
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    server = ServerProcess(LIMITS, command=SERVERS[request.param])
    yield server
    server.stop()


def half_open(port, addresses, count):
    """`count` connections spread over these client addresses, each stopped
    after a request line and one header (Linux routes all of 127/8 to loopback)."""
    sockets = []
    for index in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        sock.bind((addresses[index % len(addresses)], 0))
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(HALF_OPEN_REQUEST)
        except OSError:  # refused: fine, the server protects itself
            sock.close()
            continue
        sockets.append(sock)
    return sockets


def still_open(sockets):
    """How many of these connections the server has neither closed nor refused."""
    count = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            sock.recv(4096)  # end of stream, or the refusal before it
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def frame_through_socketio(url):
    """A frame's answer over a new Socket.IO connection. The figure (100-400 ms
    under attack) is bench/abuse.py's; here a generous deadline keeps a busy
    machine from failing the test, while a starved server still does."""
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=5)
    try:
        return client.call("frame", jpeg(scene(640, 480)), timeout=5)
    finally:
        client.disconnect()


@pytest.mark.parametrize("addresses", [["127.0.0.2"], [f"127.0.1.{i}" for i in range(1, 23)]],
                         ids=["one address", "22 addresses"])
def test_1100_half_open_connections_leave_healthz_and_socketio_answering(guarded_server,
                                                                        addresses):
    sockets = half_open(guarded_server.port, addresses, 1100)
    try:
        assert len(sockets) >= 1000  # the attack did get through to the server
        health = urllib.request.urlopen(guarded_server.url + "/healthz", timeout=1)
        assert json.load(health) == {"status": "ok"}
        assert len(frame_through_socketio(guarded_server.url)["faces"]) == 1
        # HEADER_TIMEOUT (10 s) later, the server has closed every one of them.
        assert wait_until(lambda: still_open(sockets) == 0, 30), \
            f"{still_open(sockets)} half-open connections still open"
        assert guarded_server.alive()
    finally:
        for sock in sockets:
            sock.close()


def test_one_address_holds_at_most_its_connection_cap(guarded_server):
    held = half_open(guarded_server.port, ["127.0.0.3"], 100)
    over = []
    try:
        assert len(held) == 100 and still_open(held) == 100
        over = half_open(guarded_server.port, ["127.0.0.3"], 50)
        assert wait_until(lambda: still_open(over) == 0, 5), \
            f"{still_open(over)} connections over the cap are still open"
        assert still_open(held) == 100  # well within HEADER_TIMEOUT (10 s)
        another_address = urllib.request.urlopen(guarded_server.url + "/healthz", timeout=1)
        assert another_address.status == 200
    finally:
        for sock in held + over:
            sock.close()


def test_headers_sent_byte_by_byte_are_cut_at_the_deadline(guarded_server):
    """Each byte comes before any per-read timeout; the request as a whole is late."""
    with socket.create_connection(("127.0.0.1", guarded_server.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        closed = False
        while not closed and time.monotonic() - start < 30:
            try:
                sock.sendall(b"X")
                time.sleep(0.5)
                sock.setblocking(False)
                closed = sock.recv(4096) == b""
            except BlockingIOError:
                pass
            except OSError:  # reset
                closed = True
            finally:
                sock.setblocking(True)
        assert closed, "a client dripping its headers kept the connection for 30 s"


def test_an_idle_websocket_outlives_the_header_and_socket_timeouts(guarded_server):
    client = socketio.Client(reconnection=False)
    disconnects = []
    client.on("disconnect", lambda *reason: disconnects.append(reason))
    client.connect(guarded_server.url, transports=["websocket"], wait_timeout=10)
    try:
        time.sleep(12)  # past HEADER_TIMEOUT (10 s) and SOCKET_TIMEOUT (3 s), before a ping
        assert client.connected and not disconnects
        assert len(client.call("frame", jpeg(scene(640, 480)), timeout=10)["faces"]) == 1
    finally:
        client.disconnect()


def test_a_client_reaching_the_app_directly_cannot_forge_its_address(guarded_server):
    """TRUSTED_PROXIES=0 (the default): X-Forwarded-For is ignored, so changing it
    does not escape the per-address rate limit (RATE_LIMIT_API: 20 per minute)."""
    statuses = []
    for index in range(21):
        request = urllib.request.Request(guarded_server.url + "/api/videos/" + "A" * 24,
                                         headers={"X-Forwarded-For": f"203.0.113.{index}"})
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
    assert statuses == [404] * 20 + [429]


def multipart_image(data, boundary="test-boundary"):
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            "filename=\"face.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), \
        {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count descriptors")
def test_open_descriptors_stay_flat_over_1000_probe_and_api_calls():
    server = ServerProcess(UNLIMITED)
    body, headers = multipart_image(jpeg(scene(320, 240, faces=((80, 40, 160),))))

    def call(index):
        kind = index % 3
        if kind == 0:
            ready = urllib.request.urlopen(server.url + "/readyz", timeout=30)
            assert ready.status == 200
        elif kind == 1:
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(server.url + "/api/videos/" + "A" * 24, timeout=30)
            assert caught.value.code == 404
        else:
            request = urllib.request.Request(server.url + "/api/analyze", body, headers)
            assert len(json.load(urllib.request.urlopen(request, timeout=30))["faces"]) == 1

    def warm_up(index):
        try:
            call(index)
        except (AssertionError, OSError):  # 503 busy: more than the lanes admit at once
            pass

    try:
        # Warm-up, several calls at once so that every worker thread of the pool builds its
        # interpreters (each holds its model file open): they are per OS thread, bounded by
        # the pool, and must not grow with the calls after it.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(warm_up, range(320)))
        before = settled_descriptors(server.process.pid)
        for index in range(1000):
            call(index)
        after = settled_descriptors(server.process.pid)
        opened = sorted(target for name, target in after.items() if before.get(name) != target)
        assert len(after) - len(before) <= 2, \
            f"{len(before)} -> {len(after)} open descriptors over 1,000 calls; new: {opened}"
    finally:
        server.stop()


def test_a_full_process_refuses_new_connections_at_once_and_recovers():
    """MAX_CONNECTIONS reached: a new connection is answered 503 (or reset) at
    once rather than left waiting, and served again once the others go."""
    import http.client

    server = ServerProcess({"MAX_CONNECTIONS": "20", "HEADER_TIMEOUT": "30"})
    sockets = []
    try:
        sockets = half_open(server.port, [f"127.0.2.{i}" for i in range(1, 21)], 20)
        assert len(sockets) == 20
        time.sleep(0.5)  # all accepted
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            assert connection.getresponse().status == 503
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            pass  # the refusal was sent, but the reset came first
        finally:
            connection.close()
        for sock in sockets:
            sock.close()
        assert wait_until(lambda: healthz_status(server.url) == 200, 10)
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def healthz_status(url):
    try:
        return urllib.request.urlopen(url + "/healthz", timeout=2).status
    except OSError:
        return None
