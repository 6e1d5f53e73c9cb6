"""Face detection behind a small interface; OpenCV's Haar cascade by default.

A detector takes a grayscale image and returns face boxes [x, y, w, h] in
that image's pixels. The Haar cascade ships inside opencv-python-headless 4.x,
so it always works offline. It runs on a downscaled, histogram-equalised copy
of the frame: a webcam face is large, and a 320-pixel-wide frame is ~4x
cheaper to scan than a 640-pixel one.
"""
import os

import cv2

HAAR_FRONTAL_FACE = "haarcascade_frontalface_default.xml"


class HaarDetector:
    """Viola-Jones frontal face detector."""

    def __init__(self, detect_width=320, scale_factor=1.1, min_neighbors=5,
                 min_face_fraction=0.1, cascade_path=None):
        cascade_path = cascade_path or os.path.join(cv2.data.haarcascades, HAAR_FRONTAL_FACE)
        self.cascade_path = cascade_path
        self.detect_width = detect_width
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_fraction = min_face_fraction
        # CascadeClassifier is not safe to share across threads: one per detector,
        # and the engine keeps one detector per worker thread.
        self._cascade = cv2.CascadeClassifier(cascade_path)
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade {cascade_path}")

    def detect(self, gray):
        """Face boxes [x, y, w, h] (ints, in `gray`'s pixels), largest first."""
        height, width = gray.shape[:2]
        scale = min(1.0, self.detect_width / width)
        small = gray if scale == 1.0 else cv2.resize(
            gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        min_side = max(20, int(min(small.shape[:2]) * self.min_face_fraction))
        found = self._cascade.detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side))
        boxes = [[round(v / scale) for v in box] for box in found]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


DETECTORS = {"haar": HaarDetector}


def make_detector(name="haar", **options):
    """The detector called `name`, built with `options`."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose from {sorted(DETECTORS)}")
    return DETECTORS[name](**options)
