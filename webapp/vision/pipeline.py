"""The vision engine: decode -> detect -> track -> crop -> classify -> smooth.

    engine = Engine()
    engine.analyze(image)              # one image, no state
    session = engine.session()         # one per stream (webcam, video)
    session.process(frame)             # ids stable across frames, smoothed

Results are plain dicts, ready for JSON:
{"faces": [{"id", "box": [x, y, w, h], "emotion", "confidence", "scores"}],
 "frame": {"width", "height"}}. The engine knows nothing of Flask.
It is thread-safe: detectors and interpreters are kept per thread.
"""
import threading
import time

import cv2
import numpy as np

from webapp.vision.classify import DEFAULT_MODEL, EmotionClassifier
from webapp.vision.decode import decode_image
from webapp.vision.detect import drop_nested, make_detector
from webapp.vision.track import Tracker, iou


def to_gray(image):
    """Grayscale view of a BGR or grayscale image."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def face_dict(face_id, box, probabilities, labels, label_index=None):
    """One face of a result."""
    label_index = int(np.argmax(probabilities)) if label_index is None else label_index
    return {
        "id": int(face_id),
        "box": [int(round(v)) for v in box],
        "emotion": labels[label_index],
        "confidence": round(float(probabilities[label_index]), 4),
        "scores": {label: round(float(p), 4) for label, p in zip(labels, probabilities)},
    }


def result_dict(faces, image):
    return {"faces": faces, "frame": {"width": int(image.shape[1]), "height": int(image.shape[0])}}


class Engine:
    """Shared, thread-safe detector + classifier configuration."""

    def __init__(self, model_path=DEFAULT_MODEL, detector="haar", detector_options=None,
                 max_pixels=4096 * 4096, tta=True):
        self.classifier = EmotionClassifier(model_path, tta=tta)
        self.labels = self.classifier.labels
        self.detector_name = detector
        self.detector_options = detector_options or {}
        self.max_pixels = max_pixels
        self._local = threading.local()
        self.detector()  # fail now if the detector cannot load

    def detector(self):
        """This thread's detector."""
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = make_detector(self.detector_name, **self.detector_options)
            self._local.detector = detector
        return detector

    def decode(self, data, max_pixels=None):
        """JPEG/PNG bytes -> grayscale image (raises DecodeError)."""
        return decode_image(data, max_pixels=max_pixels or self.max_pixels, grayscale=True)

    def classify_boxes(self, gray, boxes):
        """The boxes that lie in the image, and their raw probabilities."""
        crops = self.classifier.crops(gray, boxes)
        kept = [(box, crop) for box, crop in zip(boxes, crops) if crop is not None]
        probabilities = self.classifier.predict([crop for _, crop in kept])
        return [box for box, _ in kept], probabilities

    def analyze(self, image):
        """Faces in one image (BGR or grayscale), ids numbered from 1."""
        gray = to_gray(image)
        boxes, probabilities = self.classify_boxes(gray, self.detector().detect(gray))
        faces = [face_dict(i + 1, box, probs, self.labels)
                 for i, (box, probs) in enumerate(zip(boxes, probabilities))]
        return result_dict(faces, gray)

    def analyze_bytes(self, data):
        return self.analyze(self.decode(data))

    def self_test(self):
        """Classify one blank face; raises unless the model answers as its card says."""
        probabilities = self.classifier.predict([np.zeros(self.classifier.input_size, np.uint8)])
        if probabilities.shape != (1, len(self.labels)):
            raise RuntimeError(f"the model gave {probabilities.shape}, not (1, {len(self.labels)})")

    def session(self, **tracker_options):
        return StreamSession(self, **tracker_options)


class StreamSession:
    """The state of one stream: face ids and smoothed emotions across frames.

    A full-frame scan runs on the first frame, whenever no face is followed,
    when a followed face is not found again, and every `full_scan_every`
    frames to pick up new faces; in between, each followed face is looked for
    only around where it was, which is several times cheaper. Not thread-safe: one frame at a time per session.
    """

    def __init__(self, engine, full_scan_every=10, **tracker_options):
        self.engine = engine
        self.full_scan_every = full_scan_every
        self.tracker = Tracker(**tracker_options)
        self.frames = 0

    def _find_faces(self, gray):
        detector = self.engine.detector()
        live_boxes = [[int(v) for v in t.box] for t in self.tracker.tracks if t.missed == 0]
        if not live_boxes:
            return detector.detect(gray)
        if self.frames % self.full_scan_every == 0:
            found = detector.detect(gray)
            # A full scan can miss a face it found a moment ago: look for those near
            # where they were, so they keep their ids.
            missed = [box for box in live_boxes if all(iou(box, f) < 0.3 for f in found)]
            found += [detector.detect_near(gray, box) for box in missed]
            return drop_nested([box for box in found if box is not None])
        found = [detector.detect_near(gray, box) for box in live_boxes]
        if any(box is None for box in found):  # lost one: look everywhere
            return detector.detect(gray)
        return drop_nested(found)

    def process(self, image, timestamp=None):
        """Faces in the next frame of the stream, tracked and smoothed."""
        timestamp = time.monotonic() if timestamp is None else timestamp
        gray = to_gray(image)
        boxes, probabilities = self.engine.classify_boxes(gray, self._find_faces(gray))
        tracks = self.tracker.update(boxes, probabilities, timestamp)
        self.frames += 1
        faces = [face_dict(t.id, t.box, t.probabilities, self.engine.labels, t.label_index)
                 for t in tracks if t.hits >= self.tracker.min_hits]
        return result_dict(faces, gray)

    def process_bytes(self, data, timestamp=None, max_pixels=None):
        return self.process(self.engine.decode(data, max_pixels), timestamp)
