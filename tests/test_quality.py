"""Head pose, quality with its reasons, attention and when a label is withheld."""
import math

import cv2
import numpy as np
import pytest

from conftest import shared_file
from webapp.vision import quality
from webapp.vision.pipeline import Engine

# A frontal face's keypoints (image-left eye, image-right eye, nose, mouth, ears).
FRONTAL = np.array([[80, 100], [120, 100], [100, 121], [100, 140], [60, 110], [140, 110]], float)


def rotated(points, degrees, about=(100, 120)):
    theta = math.radians(degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return (points - about) @ rotation.T + about


def test_a_frontal_face_looks_straight_at_the_camera():
    pose = quality.head_pose(FRONTAL)
    assert abs(pose["yaw"]) < 1 and abs(pose["pitch"]) < 3 and pose["roll"] == 0
    assert quality.attending(pose) is True
    assert quality.head_pose(None) is None and quality.attending(None) is None


@pytest.mark.parametrize("degrees", [-35, -10, 5, 25])
def test_roll_is_the_angle_of_the_eye_line_and_leaves_yaw_and_pitch(degrees):
    pose = quality.head_pose(rotated(FRONTAL, degrees))
    assert pose["roll"] == pytest.approx(degrees, abs=0.2)
    assert abs(pose["yaw"]) < 1 and abs(pose["pitch"] - quality.head_pose(FRONTAL)["pitch"]) < 0.5


def test_yaw_follows_the_nose_and_a_mirror_image_turns_it_the_other_way():
    yaws = []
    for shift in (-20, -10, 0, 10, 20):  # the nose moves to the image's right
        points = FRONTAL.copy()
        points[quality.NOSE, 0] += shift
        yaws.append(quality.head_pose(points)["yaw"])
    assert yaws == sorted(yaws) and yaws[0] < -15 and yaws[-1] > 15 and yaws[2] == 0
    mirrored = FRONTAL.copy()
    mirrored[quality.NOSE, 0] += 45
    flipped = mirrored.copy()
    flipped[:, 0] = 200 - flipped[:, 0]
    flipped[[0, 1, 4, 5]] = flipped[[1, 0, 5, 4]]  # image-left becomes image-right
    assert quality.head_pose(flipped)["yaw"] == pytest.approx(
        -quality.head_pose(mirrored)["yaw"], abs=0.2)
    assert quality.attending(quality.head_pose(mirrored)) is False


def test_pitch_is_positive_looking_down():
    down, up = FRONTAL.copy(), FRONTAL.copy()
    down[quality.NOSE, 1] += 8  # the nose tip nearer the mouth
    up[quality.NOSE, 1] -= 8
    assert quality.head_pose(down)["pitch"] > 15 > -15 > quality.head_pose(up)["pitch"]


def face_crop(shared=True):
    image = cv2.imread(shared_file("samples", "face_ckplus_happy_S124_007_00000024.png"),
                       cv2.IMREAD_GRAYSCALE)
    return cv2.resize(image[60:420, 140:500], (48, 48), interpolation=cv2.INTER_AREA)


def test_each_reason_comes_from_its_own_measure():
    crop = face_crop()
    box, frame = [100, 100, 120, 120], (640, 480)
    assert quality.assess(quality.crop_measures(crop), box, FRONTAL, frame)["reasons"] == []
    dark = (crop * 0.015).astype(np.uint8)
    flat = (crop.mean() + (crop - crop.mean()) * 0.02).astype(np.uint8)
    blurred = cv2.GaussianBlur(crop, (0, 0), 3)
    cases = [
        (dark, box, FRONTAL, "too dark"),
        (flat, box, FRONTAL, "too flat"),
        (blurred, box, FRONTAL, "blurred"),
        (crop, [600, 100, 120, 120], FRONTAL, "partly outside the frame"),
        (crop, box, FRONTAL * 0.1, "too small"),
        (crop, box, FRONTAL + [[0, 0], [0, 0], [60, 0], [0, 0], [0, 0], [0, 0]],
         "turned away"),
    ]
    for image, where, points, reason in cases:
        assessed = quality.assess(quality.crop_measures(image), where, points, frame)
        assert reason in assessed["reasons"], (reason, assessed)
        assert assessed["score"] < 0.5


def test_a_label_is_withheld_for_bad_quality_or_a_flat_answer():
    confident = np.array([0.05, 0.0, 0.05, 0.8, 0.05, 0.0, 0.05])
    flat = np.full(7, 1 / 7)
    assert quality.trust(confident, {"score": 0.9, "reasons": []}) is None
    assert quality.trust(confident, {"score": 0.2, "reasons": ["too dark"]}) == "too dark"
    assert quality.trust(flat, {"score": 0.9, "reasons": []}) == quality.AMBIGUOUS
    assert quality.trust(confident, None) is None


def test_a_poor_picture_takes_the_blame_for_an_unsure_answer():
    fair = np.array([0.05, 0.0, 0.05, 0.5, 0.05, 0.05, 0.3])  # backed on a good picture
    unsure = np.array([0.15, 0.1, 0.15, 0.3, 0.1, 0.1, 0.1])   # backed on none
    dim = {"score": 0.58, "reasons": [], "doubt": "flat"}
    assert quality.trust(fair, {"score": 0.95, "reasons": [], "doubt": None}) is None
    assert quality.trust(fair, dim) == "too little contrast to be sure"
    assert quality.trust(unsure, dim) == "too little contrast to be sure"
    # a fair picture that asks a little more of the answer does not take the blame
    assert quality.trust(np.array([0.1, 0.1, 0.1, 0.36, 0.1, 0.1, 0.14]),
                         {"score": 0.9, "reasons": [], "doubt": None}) == quality.AMBIGUOUS


def test_a_poor_or_dim_picture_names_what_is_wrong_with_it():
    box, frame = (100, 100, 200, 200), (640, 480)
    flat = quality.assess((60.0, 1.7, 5000.0), box, None, frame)  # little contrast
    assert flat["doubt"] == "flat" and flat["reasons"] == [] and 0.5 < flat["score"] < 0.6
    dim = quality.assess((11.0, 3.0, 5000.0), box, None, frame)  # a dim room, the model copes
    assert dim["doubt"] == "dark" and dim["score"] == 1.0
    assert quality.assess((120.0, 30.0, 5000.0), box, None, frame)["doubt"] is None
    # a dim face the model is sure of keeps its label
    assert quality.trust(np.array([0.05, 0, 0.05, 0.8, 0.05, 0, 0.05]), dim) is None
    assert quality.trust(np.full(7, 1 / 7), dim) == "too dark to be sure"
def test_a_dim_face_is_read_and_one_nearly_black_is_answered_uncertain_with_its_scores():
    image = cv2.imread(shared_file("samples", "face_ckplus_happy_S124_007_00000024.png"))
    engine = Engine()
    (lit,) = engine.analyze(image)["faces"]
    assert lit["emotion"] == "happy" and lit["uncertain"] is None and lit["attending"] is True
    (dim,) = engine.analyze((image * 0.06).astype(np.uint8))["faces"]  # mean grey level 8
    assert dim["emotion"] == "happy" and dim["uncertain"] is None  # the model equalises
    dark = (image * 0.03).astype(np.uint8)  # mean grey level 4, 8 levels in all
    faces = engine.analyze(dark)["faces"]
    assert len(faces) == 1, "the detector should still find the face"
    (face,) = faces
    assert face["emotion"] == "uncertain" and face["uncertain"] == "too dark"
    assert "too dark" in face["quality"]["reasons"] and face["quality"]["score"] < 0.5
    assert abs(sum(face["scores"].values()) - 1) < 0.01
