"""A webcam client at the camera's pace is never refused, a flood beyond the rate
is: the real server driven by the python-socketio client, at its default frame
rate limit (30 a second) for the camera, and at a low one for the flood, so that
the flood outpaces the limit even where serving a frame is slow."""
import math
import random
import time

import pytest
import socketio

from conftest import ServerProcess
from testkit.synthetic import jpeg, scene


@pytest.fixture(scope="module")
def server():
    server = ServerProcess({"MAX_FRAME_RATE": "30"})
    yield server
    server.stop()


def paced_answers(url, count, fps, jitter=0.0, seed=0, catch_up=False):
    """Answers to `count` frames sent at `fps`, each arrival moved by up to
    +-`jitter` seconds, each acknowledgement awaited before the next frame.
    As a camera gives them, a late answer skips the ticks it missed (the newest
    frame is sent, not the old ones in a burst); `catch_up` sends every tick's
    frame, late ones back to back, as a flooding client does."""
    frame = jpeg(scene(320, 240))
    shake = random.Random(seed)
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=10)
    answers = []
    try:
        started = time.monotonic()
        tick = 0
        for _ in range(count):
            due = started + tick / fps + shake.uniform(-jitter, jitter)
            time.sleep(max(0.0, due - time.monotonic()))
            answers.append(client.call("frame", frame, timeout=30))
            tick += 1
            if not catch_up:
                tick = max(tick, math.ceil((time.monotonic() - started) * fps))
    finally:
        client.disconnect()
    return answers


def refusals(answers):
    return [a for a in answers if a.get("error", {}).get("code") == "rate_limited"]


def test_600_frames_at_30_fps_with_jitter_are_never_refused(server):
    answers = paced_answers(server.url, 600, fps=30, jitter=0.010)
    assert refusals(answers) == []
    assert all("faces" in answer for answer in answers), \
        [a for a in answers if "faces" not in a][:3]


@pytest.fixture(scope="module")
def slow_limit_server():
    """A low limit (5 a second), so that a flood outpaces it however slowly this
    machine classifies the frames it serves."""
    server = ServerProcess({"MAX_FRAME_RATE": "5"})
    yield server
    server.stop()


def test_a_flood_beyond_the_rate_is_still_refused(slow_limit_server):
    started = time.monotonic()
    answers = paced_answers(slow_limit_server.url, 40, fps=100, catch_up=True)
    elapsed = time.monotonic() - started
    refused = refusals(answers)
    served = [a for a in answers if "faces" in a]
    assert len(served) + len(refused) == 40
    # the bucket's promise: a second's worth (5) in hand, then 5 a second, no fewer
    # (up to a second of the flood's time spent answering its first and last frames)
    assert 5 + 5 * (elapsed - 1) <= len(served) <= 5 + 5 * elapsed + 1, (len(served), elapsed)
    assert len(refused) >= 15, (len(refused), elapsed)
    assert all(0 < a["retry_after_ms"] <= 200 for a in refused)
    assert slow_limit_server.alive()
