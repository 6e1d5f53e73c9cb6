"""Face ids across frames and smoothing of what is shown."""
import numpy as np

from webapp.vision.track import Tracker, iou

HAPPY = np.array([0, 0, 0, 0.9, 0, 0, 0.1])
SAD = np.array([0, 0, 0, 0.1, 0.9, 0, 0])


def test_iou():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [20, 20, 10, 10]) == 0.0
    assert abs(iou([0, 0, 10, 10], [5, 0, 10, 10]) - 50 / 150) < 1e-9


def test_a_moving_face_keeps_its_id_and_a_new_face_gets_a_new_one():
    tracker = Tracker()
    first = tracker.update([[100, 100, 80, 80]], [HAPPY], 0.0)[0].id
    for step in range(1, 10):
        (track,) = tracker.update([[100 + 5 * step, 100, 80, 80]], [HAPPY], step / 15)
        assert track.id == first
    tracks = tracker.update([[145, 100, 80, 80], [400, 300, 60, 60]], [HAPPY, SAD], 10 / 15)
    assert tracks[0].id == first
    assert tracks[1].id != first


def test_one_frame_flip_does_not_change_the_label():
    tracker = Tracker()
    box = [100, 100, 80, 80]
    for frame in range(15):
        tracker.update([box], [HAPPY], frame / 15)
    (track,) = tracker.update([box], [SAD], 15 / 15)
    assert track.label_index == 3  # still happy
    (track,) = tracker.update([box], [HAPPY], 16 / 15)
    assert track.label_index == 3


def test_sustained_change_shows_within_half_a_second():
    tracker = Tracker()
    box = [100, 100, 80, 80]
    for frame in range(15):
        tracker.update([box], [HAPPY], frame / 15)
    changed_at = None
    for frame in range(15, 45):
        (track,) = tracker.update([box], [SAD], frame / 15)
        if track.label_index == 4:
            changed_at = (frame - 15) / 15
            break
    assert changed_at is not None and changed_at <= 0.5


def test_lost_face_is_forgotten_after_max_missed_frames():
    tracker = Tracker(max_missed=2)
    old = tracker.update([[100, 100, 80, 80]], [HAPPY], 0.0)[0].id
    for frame in range(1, 4):
        tracker.update([], [], frame / 15)
    (track,) = tracker.update([[100, 100, 80, 80]], [HAPPY], 4 / 15)
    assert track.id != old
