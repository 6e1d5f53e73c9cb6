"""Aligned face crops: the eyes come out level, framed like FER-2013."""
import cv2
import numpy as np
import pytest

from conftest import shared_file
from testkit.synthetic import scene
from webapp.vision.align import crop_aligned, eye_angle, face_frame
from webapp.vision.detect import BlazeFaceDetector


def two_eyes(angle, size=400, centre=(200, 200), distance=80):
    """A light image with two dark eyes `distance` apart, tilted by `angle`
    degrees, and their keypoints (eyes, nose, mouth, ears)."""
    image = np.full((size, size), 200, np.uint8)
    theta = np.radians(angle)
    across = np.array([np.cos(theta), np.sin(theta)])
    down = np.array([-np.sin(theta), np.cos(theta)])
    eyes = [np.array(centre) - across * distance / 2, np.array(centre) + across * distance / 2]
    for eye in eyes:
        cv2.circle(image, tuple(int(round(v)) for v in eye), 8, 0, -1)
    mouth = np.array(centre) + down * distance
    keypoints = np.array([eyes[0], eyes[1], centre + down * 40, mouth,
                          eyes[0] - across * 30, eyes[1] + across * 30])
    return image, keypoints


def dark_blob_rows(crop):
    """Row of the darkest pixel in each half of the crop."""
    half = crop.shape[1] // 2
    return [np.unravel_index(np.argmin(part), part.shape)[0]
            for part in (crop[:, :half], crop[:, half:])]


@pytest.mark.parametrize("angle", [-30, -15, 0, 15, 30])
def test_alignment_puts_the_eyes_level(angle):
    image, keypoints = two_eyes(angle)
    assert eye_angle(keypoints) == pytest.approx(angle, abs=0.5)
    crop = crop_aligned(image, [100, 100, 200, 200], keypoints)
    assert crop.shape == (48, 48)
    left_row, right_row = dark_blob_rows(crop)
    assert abs(left_row - right_row) <= 1


def test_without_alignment_tilted_eyes_stay_tilted():
    image, keypoints = two_eyes(30)
    left_row, right_row = dark_blob_rows(crop_aligned(image, [100, 100, 200, 200], keypoints,
                                                      align=False))
    assert right_row - left_row >= 5


def test_crop_is_framed_on_the_eyes_and_mouth():
    _, keypoints = two_eyes(0, distance=80)
    cx, cy, side, angle = face_frame([0, 0, 1, 1], keypoints)
    assert angle == 0 and cx == pytest.approx(200)
    assert 200 < cy < 240 and 150 < side < 300  # below the eyes, ~2.6 eye-to-mouth wide


def test_without_keypoints_the_crop_is_the_box():
    image = np.zeros((100, 100), np.uint8)
    image[20:60, 30:70] = 255
    crop = crop_aligned(image, [30, 20, 40, 40])
    assert crop[1:-1, 1:-1].min() == 255 and crop.mean() > 245  # edges blend with outside
    assert crop_aligned(image, [200, 200, 40, 40]) is None


def test_blazeface_on_a_tilted_drawn_face_gives_its_angle():
    gray = cv2.cvtColor(scene(640, 480, faces=((170, 90, 300),)), cv2.COLOR_BGR2GRAY)
    rotation = cv2.getRotationMatrix2D((320, 240), -20, 1.0)  # 20 degrees clockwise
    tilted = cv2.warpAffine(gray, rotation, (640, 480), borderValue=90)
    face = BlazeFaceDetector().detect(tilted)[0]
    assert eye_angle(face.keypoints) == pytest.approx(20, abs=6)
    crop = crop_aligned(tilted, face.box, face.keypoints, (96, 96))
    left_row, right_row = dark_blob_rows(crop[:55])  # the drawn eyes are the darkest parts
    assert abs(left_row - right_row) <= 3


def test_real_photo_rotated_comes_back_upright():
    image = cv2.imread(shared_file("samples", "face_kate_siegel.jpg"), cv2.IMREAD_GRAYSCALE)
    height, width = image.shape
    detector = BlazeFaceDetector()
    straight = detector.detect(image)[0]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0)
    tilted = cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
    face = detector.detect(tilted)[0]
    assert eye_angle(face.keypoints) - eye_angle(straight.keypoints) == pytest.approx(-25, abs=6)
    upright = detector.detect(crop_aligned(tilted, face.box, face.keypoints, (256, 256)))
    assert upright and abs(eye_angle(upright[0].keypoints) - eye_angle(straight.keypoints)) < 6
