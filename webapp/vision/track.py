"""Face ids across frames, and per-face smoothing of boxes and emotions.

Detections are matched to existing tracks by box overlap (IoU); a match keeps
its id, an unmatched detection starts a new one. Emotion probabilities are
smoothed with an exponential moving average whose weight depends on the time
between frames (time constant `tau` seconds), so smoothing is the same at 5
or 30 frames per second and a sustained change shows within about 2 * tau.
The shown label also has hysteresis: it only changes when another emotion
leads it by `switch_margin`, which stops one-frame flips. So has whether the
label is withheld ("uncertain", `steady_verdict`): a face whose confidence
hovers at the limit does not blink between its label and "uncertain". With
`min_hits` > 1, a face is shown only once it has been seen in that many
frames, which hides one-frame false detections (the video jobs use 2; the live
stream shows a face at once).

Faces need not be classified on every frame: `due` says when a track's
emotion is worth computing again (it is new, `classify_interval` seconds
have passed since its last classification, or its box moved or changed size
by more than `reclassify_motion` of its width). A frame's box without new
probabilities moves the track and keeps its emotion; the smoothing weight of
new probabilities depends on the time since the track's last ones.

A stream's frame goes through the tracker in two steps around classification:

    plan = tracker.plan(boxes, timestamp)      # which faces to classify, from which view
    tracks = tracker.commit(plan, probabilities, views)   # their answers, in order
"""
import itertools
import math
from dataclasses import dataclass, field

import numpy as np


def intersection(a, b):
    """Area shared by two [x, y, w, h] boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


def smoothing_weight(elapsed, time_constant):
    """The weight of a new value in a moving average with this time constant
    (seconds), `elapsed` seconds after the last: 1 with no smoothing."""
    return 1.0 - math.exp(-elapsed / time_constant) if time_constant > 0 else 1.0


def iou(a, b):
    """Intersection over union of two [x, y, w, h] boxes."""
    shared = intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - shared
    return shared / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed over time."""

    id: int
    box: np.ndarray  # smoothed [x, y, w, h], float
    probabilities: np.ndarray  # smoothed
    label_index: int
    last_seen: float
    classified_at: float  # stream time of the last probabilities
    classified_box: np.ndarray  # the box they were computed on
    hits: int = 1
    missed: int = field(default=0)
    views_seen: int = 0  # test-time views classified so far (the engine's count)
    note: object = None  # what the engine keeps of the last classification (its crop's measures)
    withheld_share: float = None  # recent frames' share that withheld the label (None: none yet)
    withholding: bool = False  # the label is shown "uncertain"
    last_reason: object = None  # why, the last time it was withheld
    verdict_at: float = 0.0  # stream time of the last verdict


@dataclass
class Plan:
    """What a frame needs classified: the boxes at `due` (indices into `boxes`),
    each from view `first_views[k]` of the classifier's cycle (where its track
    left off)."""

    boxes: list
    timestamp: float
    matches: dict  # box index -> the track it continues
    due: list
    first_views: list


class Tracker:
    """Keeps face ids stable across a stream and smooths what is shown."""

    def __init__(self, tau=0.2, box_tau=0.08, iou_threshold=0.3, max_missed=10,
                 switch_margin=0.08, verdict_tau=0.5, min_hits=1, classify_interval=0.15,
                 reclassify_motion=0.2):
        self.classify_interval = classify_interval
        self.reclassify_motion = reclassify_motion
        self.tau = tau
        self.box_tau = box_tau
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.switch_margin = switch_margin
        self.verdict_tau = verdict_tau
        self.min_hits = min_hits  # frames a face must be seen in before it is shown
        self.tracks = []
        self._ids = itertools.count(1)

    def end_all(self):
        """A new shot: every face followed so far is gone (its id is not reused)."""
        self.tracks = []

    def rescale(self, x_scale, y_scale):
        """The stream's frames changed size (a client adapting its resolution):
        carry the tracks' boxes over, so faces keep their ids."""
        factors = np.array([x_scale, y_scale, x_scale, y_scale])
        for track in self.tracks:
            track.box = track.box * factors
            track.classified_box = track.classified_box * factors

    def due(self, track, box, timestamp):
        """True if the face in `box`, matched to `track` (None: a new face),
        should be classified now."""
        if track is None or self.classify_interval <= 0:
            return True
        if timestamp - track.classified_at >= self.classify_interval:
            return True
        x, y, w, h = box
        px, py, pw, ph = track.classified_box
        shift = np.hypot(x + w / 2 - px - pw / 2, y + h / 2 - py - ph / 2)
        resize = abs(w - pw)
        return max(shift, resize) > self.reclassify_motion * max(pw, 1.0)

    def plan(self, boxes, timestamp):
        """Match this frame's boxes to the tracks and say which to classify."""
        matches = self.match(boxes)
        due = [i for i, box in enumerate(boxes) if self.due(matches.get(i), box, timestamp)]
        first_views = [matches[i].views_seen if i in matches else 0 for i in due]
        return Plan(list(boxes), timestamp, matches, due, first_views)

    def commit(self, plan, probabilities, views, notes=None):
        """Apply a plan's answers: `probabilities[k]` for the box at `plan.due[k]`
        (None where it could not be classified), each from `views` views, and
        `notes[k]` kept on its track. Returns the tracks of the frame's boxes, in
        order (None for an ignored box)."""
        fresh = dict(zip(plan.due, probabilities))
        kept = dict(zip(plan.due, notes or [None] * len(plan.due)))
        tracks = self.update(plan.boxes, [fresh.get(i) for i in range(len(plan.boxes))],
                             plan.timestamp, plan.matches)
        for index, track in enumerate(tracks):
            if track is not None and fresh.get(index) is not None:
                track.views_seen += views
                track.note = kept[index]
        return tracks

    def update(self, boxes, probabilities, timestamp, matches=None):
        """Match this frame's boxes to tracks; `probabilities` holds each box's
        raw probabilities, or None where the box was not classified this frame
        (a box of a new face without them is ignored). `matches` is what
        `match(boxes)` gave, if it was called already.

        Returns the tracks seen in this frame, in the order of `boxes` (None
        for an ignored box).
        """
        matches = self.match(boxes) if matches is None else matches
        seen = []
        for index, (box, probs) in enumerate(zip(boxes, probabilities)):
            track = matches.get(index)
            if track is None and probs is not None:
                track = Track(next(self._ids), np.asarray(box, float), np.asarray(probs, float),
                              int(np.argmax(probs)), timestamp, timestamp,
                              np.asarray(box, float))
                self.tracks.append(track)
            elif track is not None:
                self._follow(track, box, probs, timestamp)
            seen.append(track)
        for track in self.tracks:
            if all(track is not s for s in seen):
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return seen

    def steady_verdict(self, track, verdict, timestamp):
        """What to show of this frame's `verdict` on `track` (None: its label, else
        why the label is withheld). The share of recent frames that withheld it
        (a moving average, time constant `verdict_tau` seconds) must pass 2/3 to
        withhold a shown label, and fall below 1/3 to show a withheld one: a
        steady change shows within about 0.55 s at 0.5, scattered frames do not
        make the label blink. A new face shows its first verdict at once, its
        share starting undecided (1/2), so that first frame does not hold."""
        withheld = verdict is not None
        if verdict is not None:
            track.last_reason = verdict
        if track.withheld_share is None:  # undecided, showing its first verdict
            track.withheld_share, track.withholding = 0.5, withheld
        else:
            since = max(timestamp - track.verdict_at, 0.0)
            track.withheld_share += (smoothing_weight(since, self.verdict_tau)
                                     * (float(withheld) - track.withheld_share))
            if track.withheld_share > 2 / 3:
                track.withholding = True
            elif track.withheld_share < 1 / 3:
                track.withholding = False
        track.verdict_at = timestamp
        return track.last_reason if track.withholding else None

    def match(self, boxes):
        """Greedy IoU matching: {box index: track}."""
        pairs = sorted(
            ((iou(box, track.box), index, track)
             for index, box in enumerate(boxes) for track in self.tracks),
            key=lambda p: p[0], reverse=True)
        matches, used = {}, set()
        for overlap, index, track in pairs:
            if overlap < self.iou_threshold:
                break
            if index not in matches and track.id not in used:
                matches[index] = track
                used.add(track.id)
        return matches

    def _follow(self, track, box, probs, timestamp):
        elapsed = max(timestamp - track.last_seen, 0.0)
        track.box += smoothing_weight(elapsed, self.box_tau) * (np.asarray(box, float) - track.box)
        track.last_seen = timestamp
        track.hits += 1
        track.missed = 0
        if probs is None:
            return
        since_classified = max(timestamp - track.classified_at, 0.0)
        track.probabilities += (smoothing_weight(since_classified, self.tau)
                                * (np.asarray(probs, float) - track.probabilities))
        track.classified_at = timestamp
        track.classified_box = np.asarray(box, float)
        leader = int(np.argmax(track.probabilities))
        current = track.probabilities[track.label_index]
        if track.probabilities[leader] > current + self.switch_margin:
            track.label_index = leader
