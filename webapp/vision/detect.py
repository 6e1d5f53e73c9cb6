"""Face detection behind a small interface: BlazeFace (default) or Haar.

A detector takes a grayscale or BGR image and returns `Detection`s (a box
[x, y, w, h] in that image's pixels, and eye/nose/mouth/ear keypoints where
the detector gives them), largest first. `detect` scans the whole frame;
`detect_near` looks again only around a face the tracker already follows,
which is what a stream does on most frames.

BlazeFace (`blazeface`, see blazeface.py) scans a frame with MediaPipe's
full-range model (faces near and far) and follows a known face with the
short-range model on a square around it, where the face fills half the
square, as that model expects. It gives landmarks, which align the crops.
`blazeface_short` uses the short-range model for full scans too (cheaper,
but misses faces smaller than about a fifth of the frame). A photo or a video
frame of 768 pixels or more is also scanned in overlapping tiles, where its
small faces show at twice the resolution (`tile_regions`). Where a photo's scan
finds no face at all, `second_look` asks the short-range model again at a lower
score for one face: half behind a hand, turned away, drawn.

The Haar cascade (`haar`) ships inside opencv-python-headless 4.x. It runs
on a downscaled, histogram-equalised copy of the frame: a webcam face is
large, and a 320-pixel-wide frame is ~4x cheaper to scan than a 640-pixel
one. Overlapping hits are merged (non-maximum suppression), and boxes far
from square are dropped. It gives no landmarks.
"""
import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

from webapp.vision import blazeface
from webapp.vision.track import intersection, iou

HAAR_FRONTAL_FACE = "haarcascade_frontalface_default.xml"


@dataclass
class Detection:
    """One face found: its box, and BlazeFace's 6 keypoints (None from Haar)."""

    box: list  # [x, y, w, h]
    keypoints: np.ndarray | None = None  # (6, 2): blazeface.KEYPOINTS, in image pixels
    score: float = 1.0


def suppress_overlaps(items, scores, max_overlap=0.3, box_of=lambda item: item):
    """Keep the best-scored item of each group whose boxes (`box_of(item)`)
    overlap by more than max_overlap IoU."""
    kept = []
    for index in np.argsort(scores, kind="stable")[::-1]:
        if all(iou(box_of(items[index]), box_of(k)) <= max_overlap for k in kept):
            kept.append(items[index])
    return kept


def drop_nested(items, max_inside=0.6, box_of=lambda item: item):
    """Drop the items whose box (`box_of(item)`, [x, y, w, h]) lies mostly
    (> max_inside of its area) inside a larger one's: a face within a face is a
    false hit on an eye or a forehead. The items come back largest first."""
    kept = []
    for item in sorted(items, key=lambda i: box_of(i)[2] * box_of(i)[3], reverse=True):
        box = box_of(item)
        area = box[2] * box[3]
        if all(intersection(box, box_of(big)) <= max_inside * area for big in kept):
            kept.append(item)
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
        if gray.ndim == 3:
            gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
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

    def detect(self, gray, tiles=False):
        """Faces in the whole image, largest first (the cascade scans every
        scale: `tiles` changes nothing)."""
        height, width = gray.shape[:2]
        scale = min(1.0, self.detect_width / width)
        min_side = max(20, int(min(height, width) * scale * self.min_face_fraction))
        # drop_nested orders them largest first
        return [Detection(box) for box in self._scan(gray, scale, min_side)]

    def second_look(self, image):
        """Nothing: a cascade has no score to lower (BlazeFaceDetector.second_look)."""
        return []

    def detect_near(self, gray, box, margin=0.5, face_side=64):
        """The Detection around a known box [x, y, w, h] (it may have moved or
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
        return Detection([best[0] + x0, best[1] + y0, best[2], best[3]])


def drop_nested_detections(detections, max_inside=0.6):
    """`drop_nested` for Detections: largest first, none mostly inside a larger one."""
    return drop_nested(detections, max_inside, box_of=lambda detection: detection.box)


def tile_regions(shape):
    """Square tiles (x0, y0, side) of half the image's long side, overlapping by
    half a tile, that cover the image: a face up to half a tile wide lies whole
    in one of them."""
    height, width = shape[:2]
    side = max(height, width) / 2
    step = side / 2

    def starts(length):
        if length <= side:
            return [(length - side) / 2]  # one tile, centred (BlazeFace pads it)
        count = math.ceil((length - side) / step) + 1
        return list(np.linspace(0, length - side, count))

    return [(x0, y0, side) for y0 in starts(height) for x0 in starts(width)]


def whole_in_tile(box, region, shape, margin=0.02):
    """True unless the box reaches a tile's edge inside the image (a face cut
    by the tile, which the overlapping tile holds whole)."""
    x, y, w, h = box
    x0, y0, side = region
    height, width = shape[:2]
    pad = margin * side
    return ((x > x0 + pad or x0 <= 0) and (y > y0 + pad or y0 <= 0)
            and (x + w < x0 + side - pad or x0 + side >= width)
            and (y + h < y0 + side - pad or y0 + side >= height))


def landmarks_inside(detection, keypoints=(blazeface.KEYPOINTS.index("eye_left"),
                                             blazeface.KEYPOINTS.index("eye_right"),
                                             blazeface.KEYPOINTS.index("mouth"))):
    """Whether the eyes and the mouth BlazeFace placed lie inside its box, as on a face."""
    x, y, w, h = detection.box
    points = detection.keypoints[list(keypoints)]
    return bool(((points >= (x, y)) & (points <= (x + w, y + h))).all())


def box_inside(box, shape):
    """Whether the box lies wholly inside an image of this shape."""
    x, y, w, h = box
    return x >= 0 and y >= 0 and x + w <= shape[1] and y + h <= shape[0]


class BlazeFaceDetector:
    """MediaPipe BlazeFace: full scans with `scan_model`, known faces followed
    with the short-range model."""

    SECOND_LOOK_SCORE = 0.4  # short-range model's own: 0.5

    def __init__(self, scan_model="full", min_score=None, near_margin=0.5,
                 min_face_fraction=0.04, tile_from=768):
        self.scan = blazeface.BlazeFaceModel(blazeface.MODELS[scan_model], min_score)
        self.near = (self.scan if scan_model == "short"
                     else blazeface.BlazeFaceModel(blazeface.SHORT_RANGE, min_score))
        self.near_margin = near_margin
        self.min_face_fraction = min_face_fraction
        self.tile_from = tile_from

    def _detections(self, found, image, min_side=0):
        height, width = image.shape[:2]
        detections = []
        for box, keypoints, score in found:
            x, y, w, h = box
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(width), x + w), min(float(height), y + h)
            if min(x1 - x0, y1 - y0) >= max(min_side, 8):  # mostly inside the image
                detections.append(Detection([x, y, w, h], keypoints, score))
        return detections

    def detect(self, image, tiles=False):
        """Faces in the whole image, largest first. Colour helps with small
        faces (5 of the 6 in the sample group photo, 2 in grey). With `tiles`
        (a photo, a video job's full scans), an image of `tile_from` pixels or more is also scanned in
        overlapping tiles of half its long side, which see small faces at twice
        the resolution (all 6 of the group photo)."""
        min_side = min(image.shape[:2]) * self.min_face_fraction
        found = self._detections(self.scan(image), image, min_side)
        if tiles and max(image.shape[:2]) >= self.tile_from:
            for region in tile_regions(image.shape):
                found += [d for d in self._detections(self.scan(image, region), image, min_side)
                          if whole_in_tile(d.box, region, image.shape)]
            found = suppress_overlaps(found, [d.score for d in found], box_of=lambda d: d.box)
        return drop_nested_detections(found)

    def second_look(self, image):
        """At most one face that `detect` missed, for a photo where it found none:
        the short-range model over the whole image at SECOND_LOOK_SCORE, its best
        face kept if the box lies inside the image and holds its eyes and mouth.
        On FER-2013's PublicTest faces sent as photos it finds 16 of the 27 the scan
        misses (faces behind a hand, in profile, drawn) and none on a face-free photo."""
        min_side = min(image.shape[:2]) * self.min_face_fraction
        found = self._detections(self.near(image, min_score=self.SECOND_LOOK_SCORE), image,
                                 min_side)
        found = [d for d in found if box_inside(d.box, image.shape) and landmarks_inside(d)]
        return sorted(found, key=lambda d: d.score, reverse=True)[:1]

    def detect_near(self, image, box):
        """The Detection around a known box, or None if it is no longer there.

        The short-range model sees a square twice the face's size around it."""
        x, y, w, h = box
        side = max(w, h) * (1 + 2 * self.near_margin)
        region = (x + w / 2 - side / 2, y + h / 2 - side / 2, side)
        found = self._detections(self.near(image, region), image)
        found = [d for d in found if iou(d.box, box) > 0.2]
        return max(found, key=lambda d: iou(d.box, box)) if found else None


DETECTORS = {
    "blazeface": BlazeFaceDetector,
    "blazeface_short": lambda **options: BlazeFaceDetector(scan_model="short", **options),
    "haar": HaarDetector,
}
DEFAULT_DETECTOR = "blazeface"


def make_detector(name=DEFAULT_DETECTOR, **options):
    """The detector called `name`, built with `options`."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose from {sorted(DETECTORS)}")
    return DETECTORS[name](**options)
