"""Offline video annotation: real decode and H.264 encode, audio kept, results."""
import csv
import json
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest

from conftest import REPO_ROOT, shared_file
from testkit import clips
from testkit import videocheck
from webapp import video
from webapp.vision.decode import MAX_SIDE
from webapp.vision.preprocess import EMOTIONS


@pytest.fixture(scope="module")
def drawn_clip(tmp_path_factory):
    """(silent, with a tone): 2-second 320x240 clips of a drawn face moving, 15 fps."""
    folder = tmp_path_factory.mktemp("clip")
    return (clips.drawn_clip(folder / "silent.mp4", audio=False),
            clips.drawn_clip(folder / "tone.mp4"))


def test_drawn_clip_round_trip_keeps_frames_and_audio(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    output, results = str(tmp_path / "out.mp4"), str(tmp_path / "r.csv")
    progress = []
    info = video.annotate(engine, source, output, results, lambda d, t: progress.append((d, t)))
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(output)
    assert frames == 30 == info["frames"] == videocheck.count_frames(output)
    assert abs(seconds - 2.0) < 0.15
    assert clips.stream_codecs(output) == ["h264", "aac"]
    assert progress[-1] == (30, 30)
    rows = list(videocheck.read_csv_rows(results))
    assert info["face_rows"] == len(rows)
    # The face is shown from its second frame on (min_hits=2 hides one-frame flashes).
    assert [r["frame"] for r in rows] == list(range(1, 30))
    assert {r["face_id"] for r in rows} == {1}
    assert all(r["emotion"] in [*EMOTIONS, "uncertain"] for r in rows)  # a drawn face


def test_silent_clip_stays_silent(engine, drawn_clip, tmp_path):
    silent, _ = drawn_clip
    info = video.annotate(engine, silent, str(tmp_path / "out.mp4"))
    assert info["audio"] is False
    assert clips.stream_codecs(str(tmp_path / "out.mp4")) == ["h264"]


def test_cli_writes_video_csv_and_json_that_agree(drawn_clip, tmp_path):
    _, source = drawn_clip
    out = tmp_path / "out.mp4"
    subprocess.run([sys.executable, "-m", "webapp.video", source, "-o", str(out), "--csv",
                    str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json")],
                   check=True, capture_output=True, cwd=REPO_ROOT)
    with open(tmp_path / "r.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    json_rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert len(csv_rows) == len(json_rows) == 29
    for a, b in zip(csv_rows, json_rows):
        assert int(a["frame"]) == b["frame"] and int(a["face_id"]) == b["face_id"]
        assert a["emotion"] == b["emotion"]
        assert np.isclose(float(a["happy"]), b["happy"])
        assert [int(a[k]) for k in "xywh"] == [b[k] for k in "xywh"]


def test_non_video_file_is_refused(engine, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(video.VideoError):
        video.annotate(engine, str(fake), str(tmp_path / "out.mp4"))


def test_truncated_video_is_refused(engine, drawn_clip, tmp_path):
    """An MP4 cut short loses its index (written at the end): not readable."""
    _, source = drawn_clip
    data = open(source, "rb").read()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(video.VideoError, match="not a readable video"):
        video.annotate(engine, str(truncated), str(tmp_path / "out.mp4"))
    assert not (tmp_path / "out.mp4").exists()


def test_the_serial_path_gives_the_same_video_and_results(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    outputs = {}
    for overlap in (True, False):
        path = tmp_path / f"{overlap}.mp4"
        video.annotate(engine, source, str(path), str(tmp_path / f"{overlap}.csv"),
                       overlap=overlap)
        outputs[overlap] = path.read_bytes(), (tmp_path / f"{overlap}.csv").read_text()
    assert outputs[True][1] == outputs[False][1]
    assert videocheck.count_frames(str(tmp_path / "True.mp4")) == 30
    frames = zip(videocheck.decoded_frames(str(tmp_path / "True.mp4")),
                 videocheck.decoded_frames(str(tmp_path / "False.mp4")))
    assert all(videocheck.psnr(a, b) > 45 for a, b in frames)


def test_frames_past_the_length_limit_stop_processing(engine, drawn_clip, tmp_path):
    _, source = drawn_clip  # 2 s at 15 fps
    progress = []
    with pytest.raises(video.TooLong, match="longer than the limit of 1 s"):
        video.annotate(engine, source, str(tmp_path / "out.mp4"),
                       on_progress=lambda d, t: progress.append(d),
                       limits=video.Limits(max_seconds=1))
    assert progress[-1] == 15
    with pytest.raises(video.TooLong, match="or 10 frames"):
        video.annotate(engine, source, str(tmp_path / "out.mp4"),
                       limits=video.Limits(max_frames=10))


def test_a_job_past_its_wall_clock_deadline_stops(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    with pytest.raises(video.TimedOut, match="longer than the limit of 0 s"):
        video.annotate(engine, source, str(tmp_path / "out.mp4"),
                       limits=video.Limits(timeout_seconds=0))


def test_large_frames_are_scaled_down_and_huge_ones_refused(engine, tmp_path):
    source = clips.drawn_clip(tmp_path / "big.mp4", frames=3, fps=15, size=(1920, 1080),
                              audio=False)
    info = video.annotate(engine, source, str(tmp_path / "out.mp4"),
                          limits=video.Limits(max_side=640))
    assert (info["width"], info["height"], info["source_width"]) == (640, 360, 1920)
    assert next(videocheck.decoded_frames(str(tmp_path / "out.mp4"))).shape == (360, 640, 3)
    with pytest.raises(video.TooLarge, match="1920x1080"):
        video.probe(source, max_pixels=1280 * 720)


@pytest.mark.parametrize("size, max_side, side", [("33000x64", 1280, 1280),
                                                  ("64x33000", 40000, MAX_SIDE)])
def test_long_thin_frames_are_scaled_before_the_detector_sees_them(engine, tmp_path, size,
                                                                   max_side, side):
    # OpenCV's warps refuse a side of 32767 pixels or more. Video frames are scaled
    # down in the decoder, never past the engine's MAX_SIDE, whatever the limit says.
    source = str(tmp_path / "thin.avi")
    subprocess.run([clips.FFMPEG, "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate=5:duration=0.4", "-c:v", "mjpeg", source],
                   check=True)
    info = video.annotate(engine, source, str(tmp_path / "out.mp4"),
                          limits=video.Limits(max_side=max_side))
    assert info["frames"] == 2 == videocheck.count_frames(str(tmp_path / "out.mp4"))
    assert max(info["width"], info["height"]) == side


def test_an_encoder_that_stops_gives_its_reason(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    with pytest.raises(OSError, match="could not be written: .*No such file or directory"):
        video.annotate(engine, source, str(tmp_path / "missing" / "out.mp4"))


def test_results_json_and_csv_hold_the_same_rows_with_the_final_persons(tmp_path):
    writer = video.ResultsWriter(str(tmp_path / "r.csv"), str(tmp_path / "r.json"))
    scores = dict.fromkeys(EMOTIONS, 0.1) | {"happy": 0.4}
    for frame in (3, 4):
        writer.write(frame, frame / 30, [{"id": 2, "person_id": 2, "box": [1, 2, 3, 4],
                                          "emotion": "happy", "confidence": 0.4,
                                          "scores": scores}])
    writer.close({"frames": 5}, persons={2: 1})
    body = json.loads((tmp_path / "r.json").read_text())
    expected = [{"frame": frame, "time": round(frame / 30, 4), "face_id": 2, "person_id": 1,
                 "x": 1, "y": 2, "w": 3, "h": 4, "emotion": "happy", "confidence": 0.4, **scores,
                 "quality": None, "reasons": "", "attending": None, "yaw": None,
                 "pitch": None, "roll": None}
                for frame in (3, 4)]
    assert body == {"video": {"frames": 5}, "labels": list(EMOTIONS), "rows": expected}
    assert list(videocheck.read_csv_rows(str(tmp_path / "r.csv"))) == expected


def test_cancel_stops_processing(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    progress = []
    with pytest.raises(video.Cancelled):
        video.annotate(engine, source, str(tmp_path / "out.mp4"),
                       on_progress=lambda d, t: progress.append(d),
                       should_cancel=lambda: len(progress) >= 5)
    assert len(progress) == 5


def test_a_stop_request_interrupts_processing(engine, drawn_clip, tmp_path):
    import threading

    _, source = drawn_clip
    stop = threading.Event()
    with pytest.raises(video.Interrupted):
        video.annotate(engine, source, str(tmp_path / "out.mp4"),
                       on_progress=lambda d, t: d == 3 and stop.set(), stop=stop)


def test_real_clip_round_trip(engine, tmp_path):
    source = shared_file("samples", "clip_talking_head_tps_driving.mp4")
    output = str(tmp_path / "out.mp4")
    video.annotate(engine, source, output, str(tmp_path / "r.csv"))
    assert imageio_ffmpeg.count_frames_and_secs(output) == (169, pytest.approx(6.76, abs=0.05))
    assert clips.stream_codecs(output) == ["h264", "aac"]
    frames_with_face = {r["frame"] for r in videocheck.read_csv_rows(str(tmp_path / "r.csv"))}
    assert len(frames_with_face) >= 0.95 * 169


class _SinkLeavingATail:
    """Writes each frame in two parts, so its last bytes wait in the pipe's buffer,
    as a write a signal cut short leaves them."""

    def __init__(self, write):
        def put(item):
            data = item.data.cast("B")
            write(data[:-64])
            write(data[-64:])

        self.put = put
        self.close = self.abandon = lambda: None


@pytest.mark.parametrize("ending", ["stop", "cancel"])
def test_bytes_left_for_a_killed_encoder_do_not_hide_why_processing_ended(
        engine, drawn_clip, tmp_path, monkeypatch, ending):
    import threading

    _, source = drawn_clip
    monkeypatch.setattr(video, "_InlineSink", _SinkLeavingATail)
    stop, progress = threading.Event(), []

    def on_progress(done, total):
        progress.append(done)
        if done == 3 and ending == "stop":
            stop.set()

    expected = video.Interrupted if ending == "stop" else video.Cancelled
    with pytest.raises(expected):
        video.annotate(engine, source, str(tmp_path / "out.mp4"), on_progress=on_progress,
                       should_cancel=lambda: ending == "cancel" and len(progress) >= 3,
                       stop=stop, overlap=False)
    assert progress == [1, 2, 3]
