"""Offline video annotation: real decode and H.264 encode, audio kept, results."""
import csv
import json
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest

from conftest import REPO_ROOT, shared_file
import clips
from webapp import video
from webapp.vision.preprocess import EMOTIONS

@pytest.fixture(scope="module")
def drawn_clip(tmp_path_factory):
    """(silent, with a tone): 2-second 320x240 clips of a drawn face moving, 15 fps."""
    folder = tmp_path_factory.mktemp("clip")
    return (clips.drawn_clip(folder / "silent.mp4", audio=False),
            clips.drawn_clip(folder / "tone.mp4"))


def test_drawn_clip_round_trip_keeps_frames_and_audio(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    output = str(tmp_path / "out.mp4")
    progress = []
    info, rows = video.annotate(engine, source, output, lambda d, t: progress.append((d, t)))
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(output)
    assert frames == 30 == info["frames"]
    assert abs(seconds - 2.0) < 0.15
    assert clips.stream_codecs(output) == ["h264", "aac"]
    assert progress[-1] == (30, 30)
    # The face is shown from its second frame on (min_hits=2 hides one-frame flashes).
    assert [r["frame"] for r in rows] == list(range(1, 30))
    assert {r["face_id"] for r in rows} == {1}
    assert all(r["emotion"] in EMOTIONS for r in rows)


def test_silent_clip_stays_silent(engine, drawn_clip, tmp_path):
    silent, _ = drawn_clip
    info, _ = video.annotate(engine, silent, str(tmp_path / "out.mp4"))
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


def test_truncated_video_is_refused_or_gives_its_readable_part(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    data = open(source, "rb").read()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    try:
        info, _ = video.annotate(engine, str(truncated), str(tmp_path / "out.mp4"))
    except video.VideoError:
        return
    assert 0 <= info["frames"] <= 30


def test_cancel_stops_processing(engine, drawn_clip, tmp_path):
    _, source = drawn_clip
    progress = []
    with pytest.raises(video.Cancelled):
        video.annotate(engine, source, str(tmp_path / "out.mp4"),
                       lambda d, t: progress.append(d), should_cancel=lambda: len(progress) >= 5)
    assert len(progress) == 5


def test_real_clip_round_trip(engine, tmp_path):
    source = shared_file("samples", "clip_talking_head_tps_driving.mp4")
    output = str(tmp_path / "out.mp4")
    info, rows = video.annotate(engine, source, output)
    assert imageio_ffmpeg.count_frames_and_secs(output) == (169, pytest.approx(6.76, abs=0.05))
    assert clips.stream_codecs(output) == ["h264", "aac"]
    frames_with_face = {r["frame"] for r in rows}
    assert len(frames_with_face) >= 0.95 * 169
