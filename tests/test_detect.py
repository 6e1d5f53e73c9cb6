"""Face detection on drawn scenes and, where present, real photos."""
import cv2
import pytest

from conftest import shared_file
from synthetic import no_face_scene, scene
from webapp.vision.detect import HaarDetector, make_detector


def gray(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


@pytest.fixture(scope="module")
def detector():
    return HaarDetector()


def test_drawn_face_is_found_where_it_was_drawn(detector):
    boxes = detector.detect(gray(scene(faces=((200, 80, 300),))))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert abs((x + w / 2) - 350) < 40 and abs((y + h / 2) - 230) < 40
    assert 150 < w < 320


def test_two_drawn_faces_give_two_boxes_largest_first(detector):
    boxes = detector.detect(gray(scene(faces=((20, 60, 250), (400, 160, 200)))))
    assert len(boxes) == 2
    assert boxes[0][2] >= boxes[1][2]


def test_no_face_scene_gives_no_box(detector):
    assert detector.detect(gray(no_face_scene())) == []


def test_unknown_detector_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("magic")


@pytest.mark.parametrize("name", ["face_paul_rudd.jpg", "face_kate_siegel.jpg",
                                  "face_ckplus_happy_S124_007_00000024.png",
                                  "face_ckplus_surprise_S124_001_00000014.png"])
def test_real_face_photo_has_a_face(detector, name):
    image = cv2.imread(shared_file("samples", name), cv2.IMREAD_GRAYSCALE)
    boxes = detector.detect(image)
    assert len(boxes) >= 1
    x, y, w, h = boxes[0]
    assert w > min(image.shape) * 0.1


def test_real_no_face_photo_has_no_face(detector):
    image = cv2.imread(shared_file("samples", "noface_coffee.png"), cv2.IMREAD_GRAYSCALE)
    assert detector.detect(image) == []
