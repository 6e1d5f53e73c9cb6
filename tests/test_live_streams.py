"""Per-connection flow control of the live stream, without a server."""
import threading
import time

import pytest

from testkit.synthetic import jpeg, no_face_scene, scene
from webapp.live.streams import LiveStreams


def make_streams(engine, **options):
    settings = dict(max_frame_bytes=1 << 20, max_frame_pixels=1920 * 1080, max_frame_rate=30)
    settings.update(options)
    return LiveStreams(engine, lambda fn, *args: fn(*args), **settings)


def test_frames_over_the_rate_limit_get_an_error(engine, monkeypatch):
    import types

    from webapp.live import streams as streams_module

    clock = [1000.0]  # the limiter's clock, moved by the test alone (not by a busy CPU)
    monkeypatch.setattr(streams_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    streams = make_streams(engine, max_frame_rate=5)
    streams.open("a")
    frame = jpeg(no_face_scene(160, 120))
    # a new connection has a second's worth in hand (5 frames), then no more
    answers = [streams.handle_frame("a", frame) for _ in range(7)]
    assert all("faces" in answer for answer in answers[:5])
    refused = answers[5]["error"]
    assert refused["code"] == "rate_limited"
    assert answers[5]["retry_after_ms"] == 200  # when the next token comes
    clock[0] += 0.5  # 5 a second: 2.5 frames' worth
    answers = [streams.handle_frame("a", frame) for _ in range(4)]
    assert all("faces" in answer for answer in answers[:2])
    assert all(answer["error"]["code"] == "rate_limited" for answer in answers[2:])
    streams.open("b")  # another connection has its own allowance
    assert "faces" in streams.handle_frame("b", frame)


def test_a_client_at_the_rate_limit_is_never_refused(engine):
    streams = make_streams(engine, max_frame_rate=20)
    frame = jpeg(scene(160, 120))
    answers = []
    for _ in range(15):
        answers.append(streams.handle_frame("a", frame))
        time.sleep(0.05)  # 20 a second, as the limit
    assert all("faces" in answer for answer in answers)


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
    time.sleep(0.05)  # within the rate: the refusal is for the frame in work
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


def test_malformed_frames_count_against_the_rate(engine):
    streams = make_streams(engine, max_frame_rate=2)
    assert streams.handle_frame("a", b"not a jpeg")["error"]["code"] == "not_an_image"
    assert streams.handle_frame("a", "text")["error"]["code"] == "bad_type"
    assert streams.handle_frame("a", "text")["error"]["code"] == "rate_limited"
    assert streams.handle_frame("a", jpeg(scene(160, 120)))["error"]["code"] == "rate_limited"


def test_frame_that_waited_past_the_deadline_is_dropped_not_processed(engine):
    calls = []

    def late_runner(fn, *args):  # a worker that takes the frame 50 ms after it arrived
        time.sleep(0.05)
        calls.append(fn)
        return fn(*args)

    streams = LiveStreams(engine, late_runner, 1 << 20, 1920 * 1080, 30, frame_deadline=0.02)
    answer = streams.handle_frame("a", jpeg(scene(160, 120)))
    assert answer["dropped"] is True and "waited" in answer["reason"]
    assert streams.connections["a"].session.frames == 0  # never reached the engine
    relaxed = LiveStreams(engine, late_runner, 1 << 20, 1920 * 1080, 30, frame_deadline=1.0)
    assert "faces" in relaxed.handle_frame("a", jpeg(scene(160, 120)))


def test_flooding_connection_is_expelled_past_its_refusals(engine):
    streams = make_streams(engine, max_frame_rate=1000, max_refusals=10)
    streams.open("flood")
    streams.connections["flood"].busy = True  # as while a frame is in work
    answers = [streams.handle_frame("flood", b"x") for _ in range(12)]
    # each refused: dropped (a frame is in work) or rate-limited (sent too fast)
    assert all(answer.get("dropped") or answer["error"]["code"] == "rate_limited"
               for answer in answers[:10])
    assert answers[10]["error"]["code"] == "flooding" and streams.expelled("flood")
    assert not streams.expelled("other")


def test_refusals_spread_over_time_do_not_expel(engine):
    streams = make_streams(engine, max_frame_rate=1000, max_refusals=10, refusal_window=0.05)
    streams.open("a")
    streams.connections["a"].busy = True
    for _ in range(4):
        for _ in range(8):
            streams.handle_frame("a", b"x")
        time.sleep(0.06)
    assert not streams.expelled("a")


def test_full_live_lane_answers_busy_at_once(engine):
    started, release = threading.Event(), threading.Event()

    def slow_runner(fn, *args):
        started.set()
        release.wait(10)
        return fn(*args)

    streams = LiveStreams(engine, slow_runner, 1 << 20, 1920 * 1080, 100, max_in_flight=1)
    frame = jpeg(scene(160, 120))
    worker = threading.Thread(target=lambda: streams.handle_frame("a", frame))
    worker.start()
    assert started.wait(10)
    try:
        answer = streams.handle_frame("b", frame)
        assert answer == {"dropped": True, "reason": "the server is busy; send the next frame"}
    finally:
        release.set()
        worker.join(10)
    assert "faces" in streams.handle_frame("b", frame)
