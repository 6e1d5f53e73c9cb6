"""FER-2013-sized faces cut as the server cuts them (training.served)."""
import os

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, shared_file
from training import served
from webapp.vision.align import crop_aligned, eye_angle
from webapp.vision.detect import make_detector


def correlation(a, b):
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


@pytest.fixture(scope="module")
def fer_face():
    """A real face cut to 48x48 framed as FER-2013 frames its faces (the engine's
    framing, the face left as tilted as it is)."""
    image = cv2.imread(shared_file("samples", "face_kate_siegel.jpg"), cv2.IMREAD_GRAYSCALE)
    face = make_detector("blazeface").detect(image)[0]
    return crop_aligned(image, face.box, face.keypoints, align=False)


def rotated(face, degrees):
    matrix = cv2.getRotationMatrix2D((23.5, 23.5), degrees, 1.0)
    return cv2.warpAffine(face, matrix, (48, 48), borderMode=cv2.BORDER_REFLECT)


def test_a_face_is_cut_framed_as_fer_2013_frames_it(fer_face):
    detector = make_detector(served.DETECTOR)
    crop = served.served_crop(fer_face, detector)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # Cut again the server's way, the face comes back: closer to itself than the
    # face moved by 4 pixels is.
    shifted = np.roll(fer_face, 4, axis=1)
    assert correlation(crop, fer_face) > max(0.8, correlation(shifted, fer_face))


def test_a_tilted_face_is_cut_upright(fer_face):
    detector = make_detector(served.DETECTOR)
    tilted = rotated(fer_face, 20)
    crop = served.served_crop(tilted, detector)
    assert correlation(crop, fer_face) > correlation(tilted, fer_face) + 0.1
    assert abs(eye_angle(served.detect_in_frame(crop, detector)[0].keypoints)) < 6


def test_faces_the_detector_misses_stay_as_they_are():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (3, 48, 48), np.uint8)
    crops, found = served.served_crops(noise)
    assert not found.any() and np.array_equal(crops, noise)
    assert served.served_crop(noise[0], make_detector(served.DETECTOR)) is None


def test_crops_are_fer_or_served():
    images = np.zeros((2, 48, 48), np.uint8)
    assert served.as_cropped(images, "fer") is images
    with pytest.raises(ValueError, match="unknown crops"):
        served.as_cropped(images, "box")


def test_the_shipped_model_reads_fer_faces_cut_the_servers_way_about_as_well():
    """The engine's framing was fitted to FER-2013's: on PrivateTest faces cut the
    server's way the shipped model loses little (1.6 points on all 3,589). A
    framing that drifted (FER_SIDE 3.2 instead of 2.6) loses 6.5 points on these."""
    from training import data, robustness

    split = data.load_splits(shared_file("data", "fer2013.csv.gz"))["PrivateTest"]
    few = data.Split(split.images[:400], split.labels[:400])
    model = os.path.join(REPO_ROOT, "models", "emotion.tflite")
    accuracies = robustness.condition_accuracies(model, few, ("as is", "served crop"))
    assert accuracies["as is"] > 0.6
    assert accuracies["served crop"] > accuracies["as is"] - 0.05


def test_a_plain_surround_shows_where_the_crop_reaches_past_the_face(fer_face):
    detector = make_detector(served.DETECTOR)
    tilted = rotated(fer_face, 25)  # levelled, its crop reaches past the image's corners
    plain = served.served_crop(tilted, detector, surround=0)
    mirrored = served.served_crop(tilted, detector)
    assert (plain == 0).mean() > 0.02 and (mirrored == 0).mean() < (plain == 0).mean() / 4
    crops, found = served.served_crops(np.stack([tilted] * 40), plain_share=0.5, seed=3)
    in_plain_surround = [not np.array_equal(crop, mirrored) for crop in crops]
    assert found.all() and 10 <= sum(in_plain_surround) <= 30
