"""Video jobs through the real server (`python wsgi.py`, and gunicorn's eventlet
worker) in a subprocess: upload, wait, download, and check every decoded frame
of the annotated video against the input."""
import os
import subprocess
import sys

import numpy as np
import pytest

from testkit import clips
from testkit import videocheck
from conftest import ServerProcess, shared_file
from testkit.synthetic import scene
from webapp import video

REAL_CLIP = ("samples", "clip_smile_liveportrait_d19.mp4")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """A 640x480, 30 fps clip of a drawn face moving, with a tone."""
    return clips.drawn_clip(tmp_path_factory.mktemp("drawn") / "drawn.mp4", frames=60, fps=30,
                            size=(640, 480))


def round_trip(url, path, folder):
    """Upload, wait for done, download and compare; returns the report."""
    status, body = videocheck.upload(url, path)
    assert status == 202, body
    job = videocheck.wait_finished(url, body["id"])
    assert job["status"] == "done", job
    output, csv_text, json_body = videocheck.download_results(url, body["id"], folder)
    report = videocheck.check_annotated(path, output, csv_text, json_body)
    assert job["frames_done"] == report["frames_out"]
    report["output"] = output
    return report


def assert_comes_out_right(report, frames_in, audio=True, faces_share=0.9):
    assert report["frames_out"] == report["frames_in"] == frames_in
    assert report["matching"] == 1.0, f"min PSNR outside the boxes {report['min_psnr']:.1f} dB"
    assert report["streams"] == (["h264", "aac"] if audio else ["h264"])
    assert report["last_row_frame"] < report["frames_out"]
    assert report["frames_with_faces"] >= faces_share * frames_in
    assert report["boxes_drawn"] >= 0.9  # each result's box is drawn where the row says


def test_a_sheared_frame_fails_the_frame_check():
    """What a frame cut short in the encoder's pipe looks like: its bytes
    shifted, rows wrapped. The PSNR check must fail it."""
    frame = scene(480, 360)
    flat = frame.reshape(-1)
    sheared = np.concatenate([flat[7 * 480 * 3 // 2:], flat[:7 * 480 * 3 // 2]]).reshape(
        frame.shape)
    assert videocheck.psnr(frame, frame) >= videocheck.MIN_PSNR
    assert videocheck.psnr(frame, sheared) < videocheck.MIN_PSNR
    slightly = np.clip(frame.astype(int) + np.random.default_rng(0).integers(-3, 4, frame.shape),
                       0, 255).astype(np.uint8)
    assert videocheck.psnr(frame, slightly) >= videocheck.MIN_PSNR


def test_real_clip_through_the_server_comes_out_right(server, tmp_path):
    clip = shared_file(*REAL_CLIP)
    report = round_trip(server.url, clip, tmp_path)
    assert_comes_out_right(report, videocheck.count_frames(clip))
    print(report)


def test_drawn_clip_through_the_server_comes_out_right(server, drawn, tmp_path):
    report = round_trip(server.url, drawn, tmp_path)
    assert_comes_out_right(report, 60)


def test_clip_whose_video_starts_after_its_audio(server, tmp_path):
    clip = clips.picture_after_sound(tmp_path, delay=1.0)
    assert video.probe(clip)["video_start"] == pytest.approx(1.0, abs=0.05)
    report = round_trip(server.url, clip, tmp_path)
    assert_comes_out_right(report, 45)
    # The video still starts a second in, in step with its audio.
    assert report["video"]["video_start"] == pytest.approx(1.0, abs=0.05)
    assert video.probe(report["output"])["video_start"] == pytest.approx(1.0, abs=0.05)


def test_a_damaged_audio_track_is_left_out_and_the_video_comes_out_right(server, drawn,
                                                                          tmp_path):
    clip = clips.with_damaged_stream(drawn, tmp_path / "damaged-audio.mp4", "a")
    assert video.probe(clip)["audio"]
    report = round_trip(server.url, clip, tmp_path)
    assert_comes_out_right(report, 60, audio=False)
    assert (report["video"]["audio"], report["video"]["audio_damaged"]) == (False, True)


def test_a_video_stream_that_does_not_decode_is_refused_with_the_reason(server, drawn, tmp_path):
    clip = clips.with_damaged_stream(drawn, tmp_path / "damaged-video.mp4", "v")
    status, body = videocheck.upload(server.url, clip)
    assert (status, body["error"]["code"]) == (415, "not_a_video")
    assert body["error"]["message"] == ("the file is not a readable video: no frame of it "
                                        "could be decoded (the video stream is damaged)")


def test_4k_phone_video_is_processed_downscaled(server, tmp_path):
    clip = clips.drawn_clip(tmp_path / "uhd.mp4", frames=12, fps=30, size=(3840, 2160))
    report = round_trip(server.url, clip, tmp_path)
    assert report["size"] == (1280, 720)
    assert report["video"]["source_width"] == 3840
    assert_comes_out_right(report, 12, faces_share=0.8)


def test_portrait_video_keeps_its_rotation(server, tmp_path):
    landscape = clips.drawn_clip(tmp_path / "sideways.mp4", frames=20, fps=30, size=(640, 360))
    portrait = str(tmp_path / "portrait.mp4")
    subprocess.run([clips.FFMPEG, "-v", "error", "-y", "-display_rotation", "90", "-i", landscape,
                    "-c", "copy", portrait], check=True)
    assert (video.probe(portrait)["width"], video.probe(portrait)["height"]) == (360, 640)
    status, body = videocheck.upload(server.url, portrait)
    assert status == 202
    assert videocheck.wait_finished(server.url, body["id"])["status"] == "done"
    output, _, _ = videocheck.download_results(server.url, body["id"], tmp_path)
    first = next(videocheck.decoded_frames(output))
    assert first.shape[:2] == (640, 360)  # shown upright, as the phone recorded it


@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
def test_playlists_are_refused_with_415(server, tmp_path, drawn, kind):
    path = tmp_path / "playlist.mp4"
    if kind == "hls":
        path.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
                        f"file://{drawn}\n#EXT-X-ENDLIST\n")
    else:
        path.write_text(f"ffconcat version 1.0\nfile '{drawn}'\n")
    status, body = videocheck.upload(server.url, str(path), name="list.m3u8")
    assert status == 415, body
    assert body["error"]["code"] == "not_a_video"


def test_cancel_and_delete_need_the_owner_token(server, drawn):
    status, body = videocheck.upload(server.url, drawn)
    assert status == 202 and len(body["token"]) >= 24
    job_path = f"/api/videos/{body['id']}"
    assert videocheck.send(server.url, job_path + "/cancel", "POST") == 403
    assert videocheck.send(server.url, job_path, "DELETE", token="not-the-token") == 403
    assert videocheck.send(server.url, job_path + "/cancel", "POST", body["token"]) == 200
    assert videocheck.send(server.url, job_path, "DELETE", body["token"]) == 204
    assert videocheck.send(server.url, job_path, "DELETE", body["token"]) == 404


def lying_clips(folder):
    """A raw H.264 stream (no duration at all) and an MP4 whose header says
    0.05 s, both 10 s of small frames."""
    raw = str(folder / "stream.h264")
    subprocess.run([clips.FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=96x64:rate=30:duration=10", "-c:v", "libx264", "-f", "h264",
                    raw], check=True)
    honest = str(folder / "honest.mp4")
    subprocess.run([clips.FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=96x64:rate=30:duration=10", "-c:v", "libx264", honest],
                   check=True)
    data = bytearray(open(honest, "rb").read())
    for box in (b"mvhd", b"mdhd"):  # version 0: timescale then duration, 12 bytes in
        at = data.find(box) + 4
        timescale = int.from_bytes(data[at + 12:at + 16], "big")
        data[at + 16:at + 20] = max(1, int(timescale * 0.05)).to_bytes(4, "big")
    tkhd = data.find(b"tkhd") + 4
    data[tkhd + 20:tkhd + 24] = (1).to_bytes(4, "big")
    lying = folder / "lying.mp4"
    lying.write_bytes(bytes(data))
    return raw, str(lying)


def test_a_container_that_lies_about_its_length_stops_at_the_limit(tmp_path):
    raw, lying = lying_clips(tmp_path)
    assert video.probe(raw)["duration"] == 0
    assert video.probe(lying)["duration"] == pytest.approx(0.05, abs=0.01)
    server = ServerProcess({"MAX_VIDEO_SECONDS": "3"})
    try:
        for clip in (raw, lying):
            status, body = videocheck.upload(server.url, clip, name=os.path.basename(clip))
            assert status == 202, body  # nothing in the header says it is too long
            job = videocheck.wait_finished(server.url, body["id"])
            assert job["status"] == "failed", job
            assert "longer than the limit of 3 s" in job["error"]
            fps = video.probe(clip)["fps"]
            assert job["frames_done"] <= 3 * fps  # never processed past the limit
            folder = os.path.join(server.jobs_dir, body["id"])
            assert os.listdir(folder) == []  # the input and partial outputs are gone
    finally:
        server.stop()


def test_gunicorn_eventlet_worker_comes_out_right(tmp_path, drawn):
    pytest.importorskip("gunicorn")
    server = ServerProcess(command=[sys.executable, "-m", "gunicorn", "-k", "eventlet", "-w", "1",
                                    "-b", "127.0.0.1:{port}", "wsgi:app"])
    try:
        report = round_trip(server.url, drawn, tmp_path)
        assert_comes_out_right(report, 60)
    finally:
        server.stop()


def test_no_face_id_crosses_a_cut_between_shots(server, tmp_path):
    """Two people's clips joined with hard cuts (A, B, A, each 2 s at 25 fps): the
    annotated results give the faces of each shot ids of their own."""
    talking = shared_file("samples", "clip_talking_head_tps_driving.mp4")
    smiling = shared_file("samples", "clip_smile_liveportrait_d19.mp4")
    clip = clips.joined([talking, smiling, talking], tmp_path / "cuts.mp4")
    report = round_trip(server.url, clip, tmp_path)
    assert report["frames_out"] == 150
    rows = report["json"]["rows"]
    shots = [{row["face_id"] for row in rows if lo <= row["frame"] < hi}
             for lo, hi in ((0, 50), (50, 100), (100, 150))]
    assert all(shots), shots  # a face in every shot
    assert not shots[0] & shots[1] and not shots[1] & shots[2] and not shots[0] & shots[2], shots
