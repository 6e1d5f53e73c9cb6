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


def shown_verdicts(tracker, verdicts, fps=15):
    """What a face shows (None: its label) for each frame's verdict."""
    box = [100, 100, 80, 80]
    shown = []
    for frame, verdict in enumerate(verdicts):
        (track,) = tracker.update([box], [HAPPY], frame / fps)
        shown.append(tracker.steady_verdict(track, verdict, frame / fps))
    return shown


def changes(values):
    return sum(1 for a, b in zip(values, values[1:]) if a != b)


def test_a_confidence_hovering_at_the_limit_does_not_make_the_label_blink():
    alternating = [None, "ambiguous expression"] * 23
    assert changes(shown_verdicts(Tracker(verdict_tau=0), alternating)) == 45  # no hysteresis
    assert changes(shown_verdicts(Tracker(), alternating)) == 0
    withheld_first = ["ambiguous expression", None] * 23
    assert set(shown_verdicts(Tracker(), withheld_first)) == {"ambiguous expression"}


def test_a_steady_change_of_verdict_shows_within_a_second_and_back():
    verdicts = [None] * 15 + ["face too small"] * 15 + [None] * 15
    shown = shown_verdicts(Tracker(), verdicts)
    assert shown[0] is None and shown[-1] is None
    withheld = [i for i, v in enumerate(shown) if v]
    assert withheld and 15 < withheld[0] <= 15 + 9  # within 0.6 s at 15 fps
    assert set(shown[withheld[0]:withheld[-1] + 1]) == {"face too small"}
    assert 30 < withheld[-1] + 1 <= 30 + 9


def test_lost_face_is_forgotten_after_max_missed_frames():
    tracker = Tracker(max_missed=2)
    old = tracker.update([[100, 100, 80, 80]], [HAPPY], 0.0)[0].id
    for frame in range(1, 4):
        tracker.update([], [], frame / 15)
    (track,) = tracker.update([[100, 100, 80, 80]], [HAPPY], 4 / 15)
    assert track.id != old


def test_a_new_face_is_due_at_once_then_after_its_interval():
    tracker = Tracker(classify_interval=0.2)
    box = [100, 100, 80, 80]
    assert tracker.due(None, box, 0.0)
    (track,) = tracker.update([box], [HAPPY], 0.0)
    assert not tracker.due(track, box, 0.1)
    assert tracker.due(track, box, 0.2)
    assert tracker.due(track, [140, 100, 80, 80], 0.05)  # moved by half its width
    assert tracker.due(track, [100, 100, 110, 110], 0.05)  # grew by more than a fifth


def test_a_frame_without_probabilities_keeps_the_emotion_and_moves_the_box():
    tracker = Tracker(classify_interval=0.2)
    (track,) = tracker.update([[100, 100, 80, 80]], [HAPPY], 0.0)
    before = track.probabilities.copy()
    (same,) = tracker.update([[120, 100, 80, 80]], [None], 1 / 30)
    assert same is track and np.array_equal(track.probabilities, before)
    assert track.box[0] > 100 and track.classified_at == 0.0
    assert tracker.update([[400, 400, 80, 80]], [None], 2 / 30) == [None]  # no new track
    assert [t.id for t in tracker.tracks] == [track.id]


def test_smoothing_weight_counts_the_time_since_the_last_classification():
    # sad arriving 0.2 s after the last classification weighs as much with or
    # without unclassified frames in between
    with_gaps, every_frame = Tracker(), Tracker()
    box = [100, 100, 80, 80]
    (gapped,) = with_gaps.update([box], [HAPPY], 0.0)
    (direct,) = every_frame.update([box], [HAPPY], 0.0)
    for frame in range(1, 6):
        with_gaps.update([box], [None], frame / 30)
    with_gaps.update([box], [SAD], 0.2)
    every_frame.update([box], [SAD], 0.2)
    assert np.allclose(gapped.probabilities, direct.probabilities)


def test_a_plan_says_what_to_classify_and_its_commit_counts_the_views():
    tracker = Tracker(classify_interval=0.2)
    plan = tracker.plan([[100, 100, 80, 80]], 0.0)
    assert plan.due == [0] and plan.first_views == [0] and plan.matches == {}
    (track,) = tracker.commit(plan, [HAPPY], views=2)
    assert track.views_seen == 2
    # soon after, still: not due; the commit moves the box and counts no views
    plan = tracker.plan([[104, 100, 80, 80]], 0.05)
    assert plan.due == [] and plan.matches == {0: track}
    assert tracker.commit(plan, [], views=2) == [track] and track.views_seen == 2
    # due again: its views start where they left off
    plan = tracker.plan([[104, 100, 80, 80], [400, 300, 60, 60]], 0.3)
    assert plan.due == [0, 1] and plan.first_views == [2, 0]
    # the new face could not be classified (None): it starts no track
    tracks = tracker.commit(plan, [SAD, None], views=1)
    assert tracks == [track, None] and track.views_seen == 3
