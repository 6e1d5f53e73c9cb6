"""Per-connection flow control of the live stream, without a server."""
import threading

import pytest

from synthetic import jpeg, scene
from webapp.live.streams import LiveStreams


def make_streams(engine, **options):
    settings = dict(max_frame_bytes=1 << 20, max_frame_pixels=1920 * 1080, max_frame_rate=30)
    settings.update(options)
    return LiveStreams(engine, lambda fn, *args: fn(*args), **settings)


def test_frames_over_the_rate_limit_get_an_error(engine):
    streams = make_streams(engine, max_frame_rate=5)
    streams.open("a")
    frame = jpeg(scene(160, 120))
    answers = [streams.handle_frame("a", frame) for _ in range(8)]
    assert all("faces" in answer for answer in answers[:5])
    assert all(answer["error"]["code"] == "rate_limited" for answer in answers[5:])
    streams.open("b")  # another connection has its own allowance
    assert "faces" in streams.handle_frame("b", frame)


def test_frame_arriving_while_one_is_processed_is_dropped(engine):
    started, release = threading.Event(), threading.Event()

    def slow_runner(fn, *args):
        started.set()
        release.wait(10)
        return fn(*args)

    streams = LiveStreams(engine, slow_runner, 1 << 20, 1920 * 1080, 100)
    streams.open("a")
    frame = jpeg(scene(160, 120))
    first = []
    worker = threading.Thread(target=lambda: first.append(streams.handle_frame("a", frame)))
    worker.start()
    assert started.wait(10)
    assert streams.handle_frame("a", frame) == {
        "dropped": True, "reason": "the previous frame is still being processed"}
    release.set()
    worker.join(10)
    assert "faces" in first[0]
    assert "faces" in streams.handle_frame("a", frame)  # not busy any more


def test_closing_frees_the_connection_state(engine):
    streams = make_streams(engine)
    streams.open("a")
    streams.handle_frame("a", jpeg(scene(160, 120)))
    streams.close("a")
    assert "a" not in streams.connections
    streams.close("a")  # closing twice is harmless


@pytest.mark.parametrize("payload", [None, "text", 3.5, [b"\xff\xd8"], {"a": 1}])
def test_wrong_payload_types_get_bad_type(engine, payload):
    streams = make_streams(engine)
    assert streams.handle_frame("x", payload)["error"]["code"] == "bad_type"


def test_engine_failure_is_reported_not_raised(engine):
    def broken(fn, *args):
        raise RuntimeError("boom")

    streams = LiveStreams(engine, broken, 1 << 20, 1920 * 1080, 30)
    assert streams.handle_frame("a", jpeg(scene(160, 120)))["error"]["code"] == "internal"
    assert streams.connections["a"].busy is False
