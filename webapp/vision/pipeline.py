"""The vision engine: decode -> (shot change) -> detect -> track -> crop -> classify -> smooth
-> people (tracks joined into persons).

    engine = Engine()
    engine.analyze(image)              # one image, no state
    session = engine.session()         # one per stream (webcam, video)
    session.process(frame)             # ids stable across frames, smoothed

Results are plain dicts, ready for JSON:
{"faces": [{"id", "person_id", "box": [x, y, w, h], "emotion", "confidence", "scores",
            "pose", "quality", "attending", "uncertain"}], "frame": {"width", "height"}}.
`id` is the face's track (it ends at a cut or when the face is lost); `person_id`
the person (people.py: a stream's session with `people` set joins the tracks of
one person; in one image, or without `people`, it is the track's id).
`emotion` is "uncertain" where the face's label is withheld (`uncertain` says why;
see quality.py). The engine knows nothing of Flask.
It is thread-safe: detectors and interpreters are kept per OS thread.
"""
import contextlib
import os
import threading
import time

import cv2
import numpy as np

from webapp.vision.align import crop_aligned
from webapp.vision.classify import DEFAULT_MODEL, EmotionClassifier
from webapp.vision.decode import decode_image
from webapp.vision.people import FaceDescriber, People
from webapp.vision.shots import ShotChanges
from webapp.vision import quality
from webapp.vision.detect import DEFAULT_DETECTOR, drop_nested_detections, make_detector
from webapp.vision.threadlocal import per_os_thread
from webapp.vision.track import Tracker, iou

MAX_FACES = 10


def to_gray(image):
    """Grayscale view of a BGR or grayscale image."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


UNCERTAIN = "uncertain"


def face_dict(face_id, box, probabilities, labels, label_index=None, judged=None,
              withheld=None):
    """One face of a result; `judged` is (pose, quality) when they are known;
    `withheld` is why its label cannot be trusted (quality.trust), if it cannot:
    it is then answered "uncertain", its scores kept."""
    label_index = int(np.argmax(probabilities)) if label_index is None else label_index
    pose, assessed = judged or (None, None)
    return {
        "id": int(face_id),
        "person_id": int(face_id),
        "box": [int(round(v)) for v in box],
        "emotion": UNCERTAIN if withheld else labels[label_index],
        "confidence": round(float(probabilities[label_index]), 4),
        "scores": {label: round(float(p), 4) for label, p in zip(labels, probabilities)},
        "pose": pose,
        "quality": assessed,
        "attending": quality.attending(pose),
        "uncertain": withheld,
    }


def judge(detection, crop_stats, frame_size):
    """(pose, quality) of a detected face whose crop measured `crop_stats`."""
    pose = quality.head_pose(detection.keypoints)
    if crop_stats is None:
        return pose, None
    return pose, quality.assess(crop_stats, detection.box, detection.keypoints, frame_size, pose)


def result_dict(faces, image):
    return {"faces": faces, "frame": {"width": int(image.shape[1]), "height": int(image.shape[0])}}


class Engine:
    """Shared, thread-safe detector + classifier configuration.

    `max_faces` caps the faces classified per image (the largest are kept).
    Test-time views adapt to load: all of them while at most one image is in
    work, fewer as more are (`views_for_load`); `views` fixes their number."""

    def __init__(self, model_path=DEFAULT_MODEL, detector=DEFAULT_DETECTOR,
                 detector_options=None, max_pixels=4096 * 4096, tta_zooms=None,
                 max_faces=MAX_FACES, align=True, views=None):
        self.classifier = EmotionClassifier(model_path, tta_zooms=tta_zooms)
        self.labels = self.classifier.labels
        self.detector_name = detector
        self.detector_options = detector_options or {}
        self.max_pixels = max_pixels
        self.max_faces = max_faces
        self.align = align
        self.fixed_views = views
        self._working = set()  # OS threads processing an image now (set.add is atomic)
        self._local = per_os_thread()
        self.describer = FaceDescriber()  # loads on first use: only sessions with people
        self.detector()  # fail now if the detector cannot load

    def detector(self):
        """This thread's detector."""
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = make_detector(self.detector_name, **self.detector_options)
            self._local.detector = detector
        return detector

    @property
    def in_work(self):
        """Images being processed now, by all threads."""
        return len(self._working)

    @contextlib.contextmanager
    def working(self):
        """Counts this thread's image in `in_work` while it is processed."""
        thread = threading.get_native_id()
        self._working.add(thread)
        try:
            yield
        finally:
            self._working.discard(thread)

    def views_for_load(self, in_work=None):
        """Test-time views per face: all while idle, half when the CPUs are
        shared, one when more images are in work than there are CPUs."""
        most = self.classifier.max_views
        in_work = self.in_work if in_work is None else in_work
        if self.fixed_views:
            return min(self.fixed_views, most)
        if in_work <= 1:
            return most
        if in_work <= (os.cpu_count() or 1):
            return max(1, most // 2)
        return 1

    def decode(self, data, max_pixels=None, colour=False):
        """JPEG/PNG bytes -> grayscale (or BGR) image (raises DecodeError)."""
        return decode_image(data, max_pixels=max_pixels or self.max_pixels,
                            grayscale=not colour)

    def crop(self, gray, detection):
        """The model's input for one detected face (None if outside the image)."""
        return crop_aligned(gray, detection.box, detection.keypoints,
                            self.classifier.input_size, align=self.align)

    def classify(self, gray, detections, views=None, first_views=None):
        """(each detection's raw probabilities, its crop's measures), both None
        where the crop lies outside the image; `first_views`: where each one's
        views start (classifier.predict)."""
        crops = [self.crop(gray, detection) for detection in detections]
        first_views = first_views or [0] * len(detections)
        kept = [i for i, crop in enumerate(crops) if crop is not None]
        probabilities = self.classifier.predict([crops[i] for i in kept],
                                                views or self.views_for_load(),
                                                [first_views[i] for i in kept])
        answers, stats = [None] * len(detections), [None] * len(detections)
        for i, answer in zip(kept, probabilities):
            answers[i], stats[i] = answer, quality.crop_measures(crops[i])
        return answers, stats

    def analyze(self, image):
        """Faces in one image (BGR or grayscale), ids numbered from 1. The
        detector sees the image as given (and takes a second look where it finds
        no face); the classifier, its grey version."""
        with self.working():
            gray = to_gray(image)
            detector = self.detector()
            detections = (detector.detect(image, tiles=True)
                          or detector.second_look(image))[:self.max_faces]
            size = (gray.shape[1], gray.shape[0])
            answered = [(d, probs, stats)
                        for d, probs, stats in zip(detections, *self.classify(gray, detections))
                        if probs is not None]
            faces = [self._face(i + 1, d, probs, stats, size)
                     for i, (d, probs, stats) in enumerate(answered)]
            return result_dict(faces, gray)

    def _face(self, face_id, detection, probabilities, crop_stats, frame_size):
        judged = judge(detection, crop_stats, frame_size)
        return face_dict(face_id, detection.box, probabilities, self.labels, judged=judged,
                         withheld=quality.trust(probabilities, judged[1]))

    def analyze_bytes(self, data, max_pixels=None):
        """Faces in JPEG/PNG bytes (raises DecodeError for a bad image), decoded
        in colour: a photo may hold small faces, which the detector finds better
        in colour; a stream's frames are decoded grey, which is faster."""
        return self.analyze(self.decode(data, max_pixels, colour=True))

    def self_test(self):
        """Classify one blank face; raises unless the model answers as its card says."""
        probabilities = self.classifier.predict([np.zeros(self.classifier.input_size, np.uint8)])
        if probabilities.shape != (1, len(self.labels)):
            raise RuntimeError(f"the model gave {probabilities.shape}, not (1, {len(self.labels)})")

    def session(self, **options):
        """A stream's state; see StreamSession and Tracker for the options."""
        return StreamSession(self, **options)


class StreamSession:
    """The state of one stream: face ids and smoothed emotions across frames.

    Detection on a schedule: a full-frame scan runs on the first frame,
    whenever no face is followed, when a followed face is not found again,
    and every `full_scan_every` frames to pick up new faces; in between, each
    followed face is looked for only around where it was. With `tiles` (the
    video jobs), a full scan of a large frame also looks in tiles, for small faces.

    A shot change (a cut in a video, a switch of camera) ends every track: no id
    passes from one shot to the next, even to a face where another's box was.

    People: with `people="live"` or `"video"`, each face's `person_id` comes
    from people.People (`self.people`), which joins the tracks of one person
    (a face that comes back, after a cut or a moment out of view); a video's
    final ids come from `self.people.final()` once its last frame is in.

    Classification on a schedule: a face is classified when it appears, then
    again once `classify_interval` seconds of stream time have passed or its
    box has moved or changed size a lot (Tracker.due); in between it keeps
    its last (smoothed) emotion. `classify_interval=0` classifies every face
    of every frame. `views` fixes the test-time views (default: by load).
    With fewer views than all, each classification of a face takes the next
    ones in the cycle of views, so that the smoothed emotion of a steady face
    draws on all of them within a few classifications.
    Not thread-safe: one frame at a time per session.
    """

    def __init__(self, engine, full_scan_every=10, views=None, people=None, tiles=False,
                 **tracker_options):
        self.engine = engine
        self.tiles = tiles  # full scans of a large frame also in tiles (detect.py)
        self.people = People(engine.describer, people) if people else None
        self.full_scan_every = full_scan_every
        self.views = views
        self.tracker = Tracker(**tracker_options)
        self.shots = ShotChanges()
        self.cuts = 0  # shot changes seen
        self.frames = 0
        self.frame_size = None  # (width, height) of the last frame

    def _find_faces(self, image):
        detector = self.engine.detector()
        live_boxes = [[float(v) for v in t.box] for t in self.tracker.tracks if t.missed == 0]
        if not live_boxes:
            return detector.detect(image, self.tiles)
        if self.frames % self.full_scan_every == 0:
            found = detector.detect(image, self.tiles)
            # A full scan can miss a face it found a moment ago: look for those near
            # where they were, so they keep their ids.
            missed = [box for box in live_boxes if all(iou(box, f.box) < 0.3 for f in found)]
            found += [detector.detect_near(image, box) for box in missed]
            return drop_nested_detections([d for d in found if d is not None])
        found = [detector.detect_near(image, box) for box in live_boxes]
        if any(d is None for d in found):  # lost one: look everywhere
            return detector.detect(image, self.tiles)
        return drop_nested_detections(found)

    def process(self, image, timestamp=None):
        """Faces in the next frame (BGR or grayscale) of the stream, tracked and
        smoothed. The detector sees the frame as given; the classifier, grey."""
        with self.engine.working():
            return self._process(image, time.monotonic() if timestamp is None else timestamp)

    def _process(self, image, timestamp):
        gray = to_gray(image)
        size = (gray.shape[1], gray.shape[0])
        if self.frame_size and size != self.frame_size:
            self.tracker.rescale(size[0] / self.frame_size[0], size[1] / self.frame_size[1])
        self.frame_size = size
        if self.shots.is_cut(gray):
            self.tracker.end_all()
            self.cuts += 1
        detections = self._find_faces(image)[:self.engine.max_faces]
        detections = [d for d in detections if inside(d.box, gray)]
        plan = self.tracker.plan([d.box for d in detections], timestamp)
        views = self.views or self.engine.views_for_load()
        probabilities, crop_stats = self.engine.classify(
            gray, [detections[i] for i in plan.due], views, plan.first_views)
        tracks = self.tracker.commit(plan, probabilities, views, notes=crop_stats)
        self.frames += 1
        faces = [self._face(d, t, size, timestamp) for d, t in zip(detections, tracks)
                 if t is not None and t.hits >= self.tracker.min_hits]
        if self.people:
            self.people.observe(image, faces, timestamp, shot=self.cuts)
        return result_dict(faces, gray)

    def _face(self, detection, track, frame_size, timestamp):
        judged = judge(detection, track.note, frame_size)
        withheld = self.tracker.steady_verdict(
            track, quality.trust(track.probabilities, judged[1]), timestamp)
        return face_dict(track.id, track.box, track.probabilities, self.engine.labels,
                         track.label_index, judged=judged, withheld=withheld)

    def process_bytes(self, data, timestamp=None, max_pixels=None):
        return self.process(self.engine.decode(data, max_pixels), timestamp)


def inside(box, image):
    """True if at least a 2x2 part of the box lies in the image."""
    x, y, w, h = box
    height, width = image.shape[:2]
    return min(x + w, width) - max(x, 0) >= 2 and min(y + h, height) - max(y, 0) >= 2
