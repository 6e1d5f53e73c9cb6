"""Generated malformed input on the frame, photo and video paths: every input gets a
result or a clear error, and nothing raises."""
import io

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from testkit.synthetic import jpeg, scene
from webapp.live.streams import LiveStreams

GOOD_JPEG = jpeg(scene(160, 120))
ERROR_CODES = {"bad_type", "empty", "not_an_image", "corrupt", "too_large", "rate_limited"}


def mutated(data):
    """Strategies that damage a good file: flipped bytes, cuts, splices."""
    return st.one_of(
        st.binary(max_size=4096),
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=40)
        .map(lambda flips: _flip(data, flips)),
        st.integers(0, len(data)).map(lambda cut: data[:cut]),
        st.tuples(st.integers(0, len(data)), st.binary(max_size=512))
        .map(lambda splice: data[:splice[0]] + splice[1] + data[splice[0]:]),
    )


def _flip(data, flips):
    damaged = bytearray(data)
    for position, value in flips:
        damaged[position] = value
    return bytes(damaged)


# Found by this fuzzing: one flipped byte makes the header claim 32888 rows.
LONG_THIN_JPEG = _flip(GOOD_JPEG, [(163, 128)])


@pytest.fixture(scope="module")
def streams(engine):
    return LiveStreams(engine, lambda fn, *args: fn(*args), 1 << 20, 1920 * 1080, 10_000)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(mutated(GOOD_JPEG), st.none(), st.integers(), st.text(max_size=50),
                         st.lists(st.integers(), max_size=5), st.dictionaries(st.text(), st.text())))
@example(payload=LONG_THIN_JPEG)
def test_frame_path_answers_every_input(streams, payload):
    answer = streams.handle_frame("fuzz", payload)
    if "error" in answer:
        assert answer["error"]["code"] in ERROR_CODES
        assert answer["error"]["message"]
    else:
        assert set(answer) == {"faces", "frame"}
        assert answer["frame"]["width"] > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=mutated(GOOD_JPEG))
@example(payload=LONG_THIN_JPEG)
def test_analyze_api_answers_every_input(client, payload):
    response = client.post("/api/analyze", data={"image": (io.BytesIO(payload), "x.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code in (200, 400, 413, 415)
    body = response.get_json()
    assert ("faces" in body) if response.status_code == 200 else body["error"]["message"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(st.binary(max_size=2048),
                         st.binary(max_size=512).map(lambda b: b"\x00\x00\x00\x18ftypmp42" + b)))
def test_video_upload_answers_every_input(client, payload):
    response = client.post("/api/videos", data={"video": (io.BytesIO(payload), "x.mp4")},
                           content_type="multipart/form-data")
    assert response.status_code in (202, 413, 415)
    body = response.get_json()
    assert ("id" in body) if response.status_code == 202 else body["error"]["message"]


@pytest.fixture(scope="module")
def small_clips(tmp_path_factory):
    """A 10-frame clip with a tone, as MP4 and as MPEG-TS, as bytes."""
    import subprocess

    from testkit import clips

    folder = tmp_path_factory.mktemp("fuzz-clips")
    mp4 = clips.drawn_clip(folder / "clip.mp4", frames=10, size=(160, 120))
    subprocess.run([clips.FFMPEG, "-v", "error", "-i", mp4, "-c", "copy", str(folder / "clip.ts")],
                   check=True)
    return {ext: (folder / f"clip.{ext}").read_bytes() for ext in ("mp4", "ts")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ext=st.sampled_from(["mp4", "ts"]), data=st.data())
def test_damaged_video_files_are_annotated_or_refused_with_a_reason(engine, small_clips, tmp_path,
                                                                     ext, data):
    from webapp import video

    damaged = data.draw(mutated(small_clips[ext]), label="damaged")
    source = tmp_path / f"in.{ext}"
    source.write_bytes(damaged)
    try:
        info = video.annotate(engine, str(source), str(tmp_path / "out.mp4"))
    except video.VideoError as error:
        assert str(error)
    else:
        assert info["frames"] > 0


def test_real_server_survives_a_stream_of_damaged_frames(live_server):
    import random

    import socketio

    rng = random.Random(7)
    client = socketio.Client(reconnection=False)
    client.connect(live_server.url, transports=["websocket"], wait_timeout=10)
    try:
        for _ in range(200):
            damaged = bytearray(GOOD_JPEG)
            for _ in range(rng.randint(1, 30)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            answer = client.call("frame", bytes(damaged[: rng.randint(0, len(damaged))]),
                                 timeout=30)
            assert ("faces" in answer) or answer["error"]["code"] in ERROR_CODES
        assert "faces" in client.call("frame", GOOD_JPEG, timeout=30)
    finally:
        client.disconnect()
    assert live_server.alive()
