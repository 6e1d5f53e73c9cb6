"""The model as users meet it: sample photos made dim and small, sent to the real
server's POST /api/analyze, answered with the emotion a person sees."""
import collections
import csv
import io

import cv2
import numpy as np
import pytest
import requests

from conftest import shared_file
from testkit import clips, videocheck
from testkit.synthetic import as_user_sends
from training.camera import dim
from webapp.vision import quality

PHOTOS = {"face_ckplus_happy_S124_007_00000024.png": "happy",
          "face_ckplus_surprise_S124_001_00000014.png": "surprise"}


def dimmed(image):
    """The dim-light protocol on a photo: less light, gamma 1.8, sensor noise."""
    noise = np.random.default_rng(0).normal(0, 4, image.shape)
    return np.clip(dim(image) + noise, 0, 255).astype(np.uint8)


def small(image, scale=0.4):
    """The photo shrunk (the face box about 85 px wide) in a 640x480 grey frame."""
    face = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[100:100 + face.shape[0], 200:200 + face.shape[1]] = face
    return canvas


def analyze(url, image):
    response = requests.post(url + "/api/analyze", timeout=60, files={
        "image": ("photo.png", cv2.imencode(".png", image)[1].tobytes(), "image/png")})
    assert response.status_code == 200, response.text
    return response.json()["faces"]


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("condition", [dimmed, small, lambda image: small(dimmed(image), 0.4)],
                         ids=["dim", "small", "dim-and-small"])
def test_a_dim_or_small_face_gets_the_emotion_a_person_sees(server, name, condition):
    image = cv2.imread(shared_file("samples", name))
    faces = analyze(server.url, condition(image))
    assert len(faces) == 1
    assert faces[0]["emotion"] == PHOTOS[name], faces[0]


def test_a_face_the_scan_misses_gets_a_second_look_and_a_face_free_photo_still_none(server):
    """Two crying faces of FER-2013's PublicTest (rows 190 and 374), each sent as a user
    would (4x, in a grey frame): BlazeFace's scan finds neither at its own score; the
    second look does, on the face, and reads it sad."""
    from training import data

    faces = data.load_splits(shared_file("data", "fer2013.csv.gz"), None, limit=400)["PublicTest"]
    for row in (190, 374):
        found = analyze(server.url, as_user_sends(faces.images[row]))
        assert len(found) == 1, (row, found)
        x, y, w, h = found[0]["box"]
        assert 96 <= x + w / 2 <= 288 and 96 <= y + h / 2 <= 288 and w > 96, (row, found[0])
        scores = found[0]["scores"]
        assert max(scores, key=scores.get) == "sad", (row, scores)
    no_face = cv2.imread(shared_file("samples", "noface_coffee.png"))
    assert analyze(server.url, no_face) == []


def test_every_face_of_a_group_photo_is_found_and_read_as_a_person_sees_it(server):
    """Six people: five smiling at the back (faces about 100 px in a 2048-px
    photo; the whole-image scan alone finds four or five), the selfie-taker
    in front with a straight face."""
    with open(shared_file("samples", "faces_group_selfie.jpg"), "rb") as photo:
        response = requests.post(server.url + "/api/analyze", timeout=60,
                                 files={"image": ("group.jpg", photo.read(), "image/jpeg")})
    assert response.status_code == 200, response.text
    faces = sorted(response.json()["faces"], key=lambda face: face["box"][2])
    assert len(faces) == 6, [face["box"] for face in faces]
    assert [face["emotion"] for face in faces[:5]] == ["happy"] * 5
    assert faces[5]["emotion"] == "neutral" and faces[5]["box"][2] > 300
    lefts = sorted(face["box"][0] for face in faces[:5])
    assert all(b - a > 150 for a, b in zip(lefts, lefts[1:]))  # five people, not one twice


def dim_smiling_row(path, seconds=2.0, fps=15):
    """A 640x360 video of the group photo's five smiling people at the back,
    faces about 40 px wide, swaying a little, in dim light by the protocol
    (the nearest we have to a smiling audience in a dim hall)."""
    photo = cv2.imread(shared_file("samples", "faces_group_selfie.jpg"))
    row = cv2.resize(photo[250:650, 150:1750], (640, 160), interpolation=cv2.INTER_AREA)
    canvas = np.full((360, 640, 3), 30, np.uint8)
    canvas[100:260] = row
    noise = np.random.default_rng(0)
    swaying = (np.roll(canvas, int(3 * np.sin(index / 5)), axis=1)
               for index in range(int(seconds * fps)))
    return clips.encoded(path, (np.clip(dim(frame) + noise.normal(0, 4, frame.shape), 0, 255)
                                .astype(np.uint8) for frame in swaying), (640, 360), fps)


def job_rows(server, clip, tmp_path):
    """The CSV rows of a video job of `clip` through the real server, once it is done."""
    status, body = videocheck.upload(server.url, clip)
    assert status == 202, body
    assert videocheck.wait_finished(server.url, body["id"])["status"] == "done"
    _, csv_text, _ = videocheck.download_results(server.url, body["id"], tmp_path)
    return list(csv.DictReader(io.StringIO(csv_text)))


def test_a_dim_row_of_smiling_people_reads_happy_in_a_video_job(server, tmp_path):
    """Every face found in most frames, and the faces given a label read happy
    (at most a tenth of them otherwise). The shipped model: 145 face-frames of
    145 happy; the two models before it, 129 and 116 happy, the rest uncertain."""
    rows = job_rows(server, dim_smiling_row(tmp_path / "row.mp4"), tmp_path)
    frames = len({row["frame"] for row in rows})
    assert len(rows) >= 0.8 * 5 * frames and frames >= 25
    labelled = [row["emotion"] for row in rows if row["emotion"] != "uncertain"]
    assert len(labelled) >= 0.6 * len(rows)
    assert sum(label != "happy" for label in labelled) <= 0.1 * len(labelled), labelled


def test_a_smile_in_a_nearly_dark_room_reads_as_it_does_in_light(server, tmp_path):
    """The smile clip (a face at rest that smiles and grins in turn) with 6% of its
    light, through the real server's video job: the face is followed; where a label
    is given it is mostly the one the same frame gets in the clip's own light (the
    shipped model: 114 of 187 frames, never neutral for a lit grin; the model before
    it read the dark clip happy on 190 of 249 frames, where the lit clip reads mostly
    neutral, and agreed on 90 of 230); where a label is held back the reason is the
    picture's ("too dark to be sure"), not an "ambiguous expression"; no frame is
    given an emotion the clip does not show."""
    smile = shared_file("samples", "clip_smile_liveportrait_d19.mp4")
    clip = clips.darkened(smile, tmp_path / "dark.mp4")
    lit = {row["frame"]: row for row in job_rows(server, smile, tmp_path)}
    dark = {row["frame"]: row for row in job_rows(server, clip, tmp_path)}
    assert len(dark) >= 200 and len(lit) >= 200
    withheld = [row["reasons"] for row in dark.values() if row["emotion"] == "uncertain"]
    assert withheld, "some frames of the darkest stretch should be held back"
    picture = (*quality.REASONS.values(), *quality.DOUBTS.values())
    assert all(any(reason in reasons for reason in picture) for reasons in withheld), withheld
    assert quality.AMBIGUOUS not in " ".join(withheld)
    labels = [row["emotion"] for row in dark.values()]
    assert set(labels) <= {"uncertain", "happy", "neutral"}, collections.Counter(labels)
    both = [(lit[frame]["emotion"], row["emotion"]) for frame, row in dark.items()
            if frame in lit and "uncertain" not in (row["emotion"], lit[frame]["emotion"])]
    assert len(both) >= 0.5 * len(dark)
    agreed = sum(in_light == in_dark for in_light, in_dark in both)
    assert agreed >= 0.55 * len(both), (agreed, len(both), collections.Counter(both))
    assert {"happy", "neutral"} <= set(labels), collections.Counter(labels)
