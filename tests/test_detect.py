"""Face detection on drawn scenes and, where present, real photos; the
BlazeFace decoder (anchors, scores, weighted non-maximum suppression)."""
import cv2
import numpy as np
import pytest

from conftest import shared_file
from testkit.synthetic import no_face_scene, scene
from webapp.vision import blazeface
from webapp.vision.detect import (DEFAULT_DETECTOR, BlazeFaceDetector, Detection, HaarDetector,
                                  box_inside, landmarks_inside, make_detector, tile_regions,
                                  whole_in_tile)
from webapp.vision.track import iou

DETECTOR_NAMES = ["haar", "blazeface", "blazeface_short"]
FACE_PHOTOS = ["face_paul_rudd.jpg", "face_kate_siegel.jpg",
               "face_ckplus_happy_S124_007_00000024.png",
               "face_ckplus_surprise_S124_001_00000014.png"]


def gray(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


@pytest.fixture(scope="module", params=DETECTOR_NAMES)
def detector(request):
    return make_detector(request.param)


@pytest.fixture(scope="module")
def blaze():
    return BlazeFaceDetector()


def test_drawn_face_is_found_where_it_was_drawn(detector):
    found = detector.detect(gray(scene(faces=((200, 80, 300),))))
    assert len(found) == 1
    x, y, w, h = found[0].box
    assert abs((x + w / 2) - 350) < 40 and abs((y + h / 2) - 230) < 40
    assert 120 < w < 320


def test_two_drawn_faces_give_two_boxes_largest_first(detector):
    found = detector.detect(gray(scene(faces=((20, 60, 250), (400, 160, 200)))))
    assert len(found) == 2
    assert found[0].box[2] >= found[1].box[2]


def test_no_face_scene_gives_no_box(detector):
    assert detector.detect(gray(no_face_scene())) == []


def test_unknown_detector_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("magic")


def test_default_detector_gives_landmarks():
    assert DEFAULT_DETECTOR.startswith("blazeface")
    found = make_detector().detect(gray(scene()))
    assert found[0].keypoints.shape == (6, 2)


def test_anchor_grids_match_the_models():
    short = blazeface.ssd_anchors(128, (8, 16, 16, 16), True)
    full = blazeface.ssd_anchors(192, (4,), False)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # short range: a 16x16 grid with 2 anchors a cell, then 8x8 with 6
    assert np.allclose(short[0], short[1]) and np.allclose(short[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(short[512], [0.5 / 8, 0.5 / 8]) and np.allclose(short[512], short[517])
    assert np.allclose(full[1], [1.5 / 48, 0.5 / 48]) and np.allclose(full[-1], [47.5 / 48] * 2)


def test_decode_places_box_and_keypoints_on_their_anchor():
    anchors = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    regressors = np.zeros((2, 16), np.float32)
    regressors[1, :4] = [12.8, -6.4, 64, 32]  # offset (+0.1, -0.05), size (0.5, 0.25) of 128
    regressors[1, 4:6] = [-12.8, 0]  # first keypoint 0.1 left of the anchor
    scores = np.array([[-5.0], [3.0]], np.float32)  # sigmoid: 0.007, 0.95
    boxes, keypoints, kept_scores = blazeface.decode(regressors, scores, anchors, 128, 0.5)
    assert len(boxes) == 1 and kept_scores[0] == pytest.approx(0.9526, abs=1e-3)
    assert np.allclose(boxes[0], [0.85 - 0.25, 0.45 - 0.125, 0.85 + 0.25, 0.45 + 0.125])
    assert np.allclose(keypoints[0, 0], [0.65, 0.5]) and np.allclose(keypoints[0, 1], [0.75, 0.5])


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    keypoints = np.zeros((3, 6, 2), np.float32)
    keypoints[1] += 4.0
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    merged = blazeface.weighted_nms(boxes, keypoints, scores)
    assert len(merged) == 2
    box, points, score = merged[0]
    assert score == pytest.approx(0.9)
    assert box[0] == pytest.approx(0.25) and points[0, 0] == pytest.approx(1.0)
    assert np.allclose(merged[1][0], [50, 50, 60, 60])


def test_drawn_face_keypoints_sit_on_the_drawn_eyes(blaze):
    # synthetic.cartoon_face(300) at (200, 80): eyes at x = 350 -/+ 35, y = 209
    found = blaze.detect(gray(scene(faces=((200, 80, 300),))))
    eye_left, eye_right, nose, mouth = found[0].keypoints[:4]
    assert abs(eye_left[0] - 315) < 15 and abs(eye_right[0] - 385) < 15
    assert abs(eye_left[1] - 209) < 15 and abs(eye_right[1] - 209) < 15
    assert eye_left[1] < nose[1] < mouth[1]


def test_following_a_face_finds_it_again_near_its_box(blaze):
    image = gray(scene(faces=((200, 80, 300),)))
    first = blaze.detect(image)[0]
    moved = np.roll(image, 20, axis=1)
    again = blaze.detect_near(moved, first.box)
    assert again is not None and abs(again.box[0] - first.box[0] - 20) < 10
    assert blaze.detect_near(gray(no_face_scene()), first.box) is None


@pytest.mark.parametrize("name", FACE_PHOTOS)
def test_real_face_photo_has_a_face(detector, name):
    image = cv2.imread(shared_file("samples", name), cv2.IMREAD_GRAYSCALE)
    found = detector.detect(image)
    assert len(found) >= 1
    assert found[0].box[2] > min(image.shape) * 0.1


# Boxes and eyes measured once on the sample photos with the full-range model
# (x, y, w, eye_left x, y, eye_right x, y); BlazeFace boxes are square.
KNOWN_FACES = {
    "face_ckplus_happy_S124_007_00000024.png": (161, 118, 220, 227, 182, 317, 185),
    "face_ckplus_neutral_S124_007_00000001.png": (151, 133, 214, 214, 205, 303, 199),
    "face_kate_siegel.jpg": (535, 163, 239, 604, 235, 707, 241),
    "face_paul_rudd.jpg": (105, 457, 1365, 534, 915, 1055, 915),
}


@pytest.mark.parametrize("name", sorted(KNOWN_FACES))
def test_blazeface_box_and_eyes_on_sample_photos(blaze, name):
    image = cv2.imread(shared_file("samples", name), cv2.IMREAD_GRAYSCALE)
    x, y, w, lx, ly, rx, ry = KNOWN_FACES[name]
    face = blaze.detect(image)[0]
    tolerance = 0.05 * w
    assert np.allclose(face.box, [x, y, w, w], atol=tolerance)
    assert np.allclose(face.keypoints[:2], [[lx, ly], [rx, ry]], atol=tolerance)


def test_real_no_face_photo_has_no_face(detector):
    image = cv2.imread(shared_file("samples", "noface_coffee.png"), cv2.IMREAD_GRAYSCALE)
    assert detector.detect(image) == []


@pytest.mark.parametrize("name", ["blazeface", "blazeface_short"])
def test_a_second_look_finds_a_face_the_scan_misses_and_none_in_a_face_free_photo(name):
    """The neutral CK+ face with its lower two thirds (mouth, nose, eyes) covered:
    the full-range scan finds nothing; the second look finds the face where it was."""
    detector = make_detector(name)
    image = cv2.imread(shared_file("samples", "face_ckplus_neutral_S124_007_00000001.png"))
    x, y, w = KNOWN_FACES["face_ckplus_neutral_S124_007_00000001.png"][:3]
    covered = image.copy()
    covered[int(y + 0.3 * w):y + w + w // 4, x - w // 4:x + w + w // 4] = 128
    if name == "blazeface":
        assert detector.detect(covered, tiles=True) == []
    found = detector.second_look(covered)
    assert len(found) == 1 and iou(found[0].box, [x, y, w, w]) > 0.5
    no_face = cv2.imread(shared_file("samples", "noface_coffee.png"))
    assert detector.second_look(no_face) == []


def test_a_second_look_keeps_only_a_box_inside_the_image_that_holds_eyes_and_mouth():
    keypoints = np.array([[40, 40], [60, 40], [50, 50], [50, 65], [30, 45], [70, 45]], float)
    face = Detection([25, 25, 50, 50], keypoints)
    assert landmarks_inside(face) and box_inside(face.box, (100, 100))
    assert not box_inside(face.box, (70, 100)) and not box_inside([-1, 25, 50, 50], (100, 100))
    assert not landmarks_inside(Detection([25, 25, 50, 30], keypoints))  # mouth below the box
    assert HaarDetector().second_look(cv2.imread(shared_file("samples", "noface_coffee.png"))) == []


def test_haar_gives_no_landmarks():
    found = HaarDetector().detect(gray(scene()))
    assert found and found[0].keypoints is None


def test_colour_photo_gives_the_small_faces_of_a_group(engine):
    # the full-range model's whole-image scan finds 5 of the 6 faces in colour, 2 in grey
    with open(shared_file("samples", "faces_group_selfie.jpg"), "rb") as photo:
        faces = engine.analyze_bytes(photo.read())["faces"]
    assert len(faces) >= 4
    assert sorted(face["box"][2] for face in faces)[0] < 150  # the people at the back


def test_tiles_find_the_face_the_whole_image_scan_misses():
    image = cv2.imread(shared_file("samples", "faces_group_selfie.jpg"))
    detector = BlazeFaceDetector()
    whole, tiled = detector.detect(image), detector.detect(image, tiles=True)
    assert len(whole) == 5 and len(tiled) == 6
    for face in whole:  # the same faces, not a second box on one
        assert sum(iou(face.box, other.box) > 0.5 for other in tiled) == 1


def test_tiles_cover_the_image_and_overlap_by_half():
    for shape in [(1536, 2048), (2048, 1638), (768, 768), (1080, 1920)]:
        regions = tile_regions(shape)
        side = max(shape) / 2
        assert all(r[2] == side for r in regions)
        covered = np.zeros(shape, bool)
        for x0, y0, _ in regions:
            covered[max(0, int(y0)):int(y0 + side), max(0, int(x0)):int(x0 + side)] = True
        assert covered.all()
        xs = sorted({r[0] for r in regions})
        assert all(b - a <= side / 2 + 1e-6 for a, b in zip(xs, xs[1:]))


def test_a_face_cut_by_a_tile_edge_is_left_to_the_tile_that_holds_it_whole():
    shape, region = (1000, 1000), (250, 250, 500)
    assert whole_in_tile([300, 300, 100, 100], region, shape)
    assert not whole_in_tile([700, 300, 100, 100], region, shape)  # crosses the right edge
    assert whole_in_tile([0, 0, 100, 100], (-10, -10, 500), shape)  # the image's own edge


def test_haar_takes_colour_frames_too():
    assert len(HaarDetector().detect(scene())) == 1
