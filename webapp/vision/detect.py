"""Face detection behind a small interface; OpenCV's Haar cascade by default.

A detector takes a grayscale image and returns face boxes [x, y, w, h] in
that image's pixels, largest first. `detect` scans the whole frame;
`detect_near` looks again only around a face the tracker already follows,
which is what a stream does on most frames.

The Haar cascade ships inside opencv-python-headless 4.x, so it always works
offline. It runs on a downscaled, histogram-equalised copy of the frame: a
webcam face is large, and a 320-pixel-wide frame is ~4x cheaper to scan than
a 640-pixel one. Overlapping hits are merged (non-maximum suppression), and
boxes far from square are dropped.
"""
import os

import cv2
import numpy as np

from webapp.vision.track import intersection, iou

HAAR_FRONTAL_FACE = "haarcascade_frontalface_default.xml"


def suppress_overlaps(boxes, scores, max_overlap=0.3):
    """Keep the best-scored box of each group overlapping by more than max_overlap IoU."""
    kept = []
    for index in np.argsort(scores)[::-1]:
        if all(iou(boxes[index], boxes[k]) <= max_overlap for k in kept):
            kept.append(index)
    return [boxes[k] for k in kept]


def drop_nested(boxes, max_inside=0.6):
    """Drop boxes lying mostly (> max_inside of their area) inside a larger box:
    a face within a face is a false hit on an eye or a forehead. The boxes
    come back largest first."""
    kept = []
    for box in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True):
        area = box[2] * box[3]
        if all(intersection(box, big) <= max_inside * area for big in kept):
            kept.append(box)
    return kept


class HaarDetector:
    """Viola-Jones frontal face detector."""

    def __init__(self, detect_width=320, scale_factor=1.1, min_neighbors=5,
                 min_face_fraction=0.1, max_aspect=1.5, cascade_path=None):
        cascade_path = cascade_path or os.path.join(cv2.data.haarcascades, HAAR_FRONTAL_FACE)
        self.detect_width = detect_width
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_fraction = min_face_fraction
        self.max_aspect = max_aspect
        # A CascadeClassifier must not be shared across threads: the engine
        # keeps one detector per worker thread.
        self._cascade = cv2.CascadeClassifier(cascade_path)
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade {cascade_path}")

    def _scan(self, gray, scale, min_side, max_side=None, min_neighbors=None):
        """Boxes found in `gray` resized by `scale`, in `gray`'s pixels."""
        height, width = gray.shape[:2]
        small = gray if scale == 1.0 else cv2.resize(
            gray, (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        max_size = (max_side, max_side) if max_side else (0, 0)
        found, neighbours = self._cascade.detectMultiScale2(
            small, scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors if min_neighbors is None else min_neighbors,
            minSize=(min_side, min_side), maxSize=max_size)
        squarish = [(box, n) for box, n in zip(found, np.ravel(neighbours))
                    if max(box[2], box[3]) <= self.max_aspect * min(box[2], box[3])]
        boxes = [[round(v / scale) for v in box] for box, _ in squarish]
        return drop_nested(suppress_overlaps(boxes, [float(n) for _, n in squarish]))

    def detect(self, gray):
        """Face boxes in the whole image, largest first."""
        height, width = gray.shape[:2]
        scale = min(1.0, self.detect_width / width)
        min_side = max(20, int(min(height, width) * scale * self.min_face_fraction))
        return self._scan(gray, scale, min_side)  # drop_nested orders them largest first

    def detect_near(self, gray, box, margin=0.5, face_side=64):
        """The face around a known box [x, y, w, h] (it may have moved or
        changed size a little), or None if it is no longer there.

        Knowing where to look, it accepts fewer overlapping hits than a full
        scan (min_neighbors - 2)."""
        x, y, w, h = box
        height, width = gray.shape[:2]
        x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
        x1, y1 = min(width, int(x + w * (1 + margin))), min(height, int(y + h * (1 + margin)))
        if x1 - x0 < 24 or y1 - y0 < 24:
            return None
        # Scale the region so the face is ~face_side px, and look only for
        # faces of about its size: a few pyramid levels instead of a dozen.
        scale = min(1.0, face_side / max(w, 1))
        expected = w * scale
        found = self._scan(gray[y0:y1, x0:x1], scale, min_side=max(20, int(expected * 0.7)),
                           max_side=int(expected * 1.45) + 1,
                           min_neighbors=max(1, self.min_neighbors - 2))
        if not found:
            return None
        best = max(found, key=lambda b: iou([b[0] + x0, b[1] + y0, b[2], b[3]], box))
        return [best[0] + x0, best[1] + y0, best[2], best[3]]


DETECTORS = {"haar": HaarDetector}


def make_detector(name="haar", **options):
    """The detector called `name`, built with `options`."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose from {sorted(DETECTORS)}")
    return DETECTORS[name](**options)
