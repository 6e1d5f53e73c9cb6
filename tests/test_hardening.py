"""The real server under abuse: slow and idle connections, descriptor leaks,
forged proxy headers. Each test runs `python wsgi.py` (or gunicorn) in a
subprocess and attacks it with real sockets."""
import json
import os
import urllib.error
import urllib.request

import pytest

from conftest import ServerProcess
from synthetic import jpeg, scene

UNLIMITED = {"RATE_LIMIT_API": "100000 per minute", "RATE_LIMIT_ANALYZE": "100000 per minute"}


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


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

    try:
        for index in range(30):  # warm-up: the worker threads' interpreters and connections
            call(index)
        before = open_descriptors(server.process.pid)
        for index in range(1000):
            call(index)
        after = open_descriptors(server.process.pid)
        assert after - before <= 2, f"{before} -> {after} open descriptors over 1,000 calls"
    finally:
        server.stop()
