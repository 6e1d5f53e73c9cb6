"""Shot changes: a cut ends the stream's tracks; light and motion do not."""
import cv2
import numpy as np

from testkit.synthetic import scene
from webapp.vision.pipeline import Engine
from webapp.vision.shots import ShotChanges


def grey(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def room(seed, faces):
    """A drawn face before a textured background (a room, not a flat wall)."""
    texture = cv2.GaussianBlur(np.random.default_rng(seed).uniform(0, 255, (480, 640)),
                               (0, 0), 12)
    texture = cv2.normalize(texture, None, 40, 200, cv2.NORM_MINMAX).astype(np.uint8)
    picture = grey(scene(640, 480, faces=faces))
    return np.where(picture == 90, texture, picture).astype(np.uint8)


def letterboxed(image):
    canvas = np.zeros((480, 640), np.uint8)
    canvas[:, 80:560] = cv2.resize(image, (480, 480))
    return canvas


def test_a_cut_is_told_from_light_and_motion():
    one = room(0, ((100, 60, 300),))
    other = room(1, ((300, 150, 200),))
    shots = ShotChanges()
    assert not shots.is_cut(one)  # the first frame starts the first shot
    assert not shots.is_cut(np.roll(one, 12, axis=1))  # the camera moves
    assert not shots.is_cut((np.roll(one, 12, axis=1) * 0.5).astype(np.uint8))  # the light
    assert shots.is_cut(other)
    boxed = ShotChanges()
    boxed.is_cut(letterboxed(one))
    assert boxed.is_cut(letterboxed(other))  # bars the same on both sides of the cut


def test_no_face_keeps_its_id_across_a_cut():
    engine = Engine()
    session = engine.session()
    first = cv2.cvtColor(room(0, ((170, 60, 300),)), cv2.COLOR_GRAY2BGR)
    second = cv2.cvtColor(room(1, ((190, 70, 290),)), cv2.COLOR_GRAY2BGR)  # same place
    ids_before = {f["id"] for f in session.process(first, 0.0)["faces"]}
    ids_again = {f["id"] for f in session.process(first, 0.04)["faces"]}
    assert ids_before and ids_again == ids_before
    after = {f["id"] for f in session.process(second, 0.08)["faces"]}
    assert after and not after & ids_before and session.cuts == 1
