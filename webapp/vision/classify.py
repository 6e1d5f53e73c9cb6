"""Face crops -> emotion probabilities, through the TFLite model.

Each face is classified as a few views of its crop (plain and mirrored, at
the zooms the model card names) and the answers averaged: test-time
augmentation, measured the same way in the model's PrivateTest figures
(`training.evaluate --tta`).

The model's sidecar JSON (`models/emotion.json`) says the label order, input
size and normalisation, so any model exported by `training.export` works.
A TFLite interpreter is not thread-safe: each OS thread gets its own, which
the greenlets of that thread share (one runs at a time, and `predict` never
yields).
"""
import json
import os

import numpy as np
from webapp.vision.preprocess import (
    TTA_ZOOMS, mean_of_views, normalize, normalize_light, tta_views,
)
from webapp.vision.threadlocal import per_os_thread
from webapp.vision.tflite import TFLiteModel

DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "models", "emotion.tflite")


class ModelNotFound(RuntimeError):
    """The model file or its JSON sidecar is missing."""


def read_model_card(model_path):
    """The JSON sidecar next to a .tflite file."""
    card_path = os.path.splitext(model_path)[0] + ".json"
    if not os.path.isfile(model_path) or not os.path.isfile(card_path):
        raise ModelNotFound(
            f"emotion model not found: need {model_path} and {card_path} "
            "(train one with `python -m training.train` and export it with "
            "`python -m training.export`)")
    with open(card_path) as f:
        return json.load(f)


class EmotionClassifier:
    """Batch of grayscale face crops -> (N, labels) probabilities."""

    def __init__(self, model_path=DEFAULT_MODEL, threads=1, tta_zooms=None):
        self.model_path = os.path.abspath(model_path)
        card = read_model_card(self.model_path)
        # Zooms of the views averaged per face (test-time augmentation): the
        # card's unless given; () is the crop alone.
        if tta_zooms is None:
            tta_zooms = card.get("tta_zooms", TTA_ZOOMS)
        self.tta_zooms = tuple(tta_zooms)
        self.labels = tuple(card["labels"])
        self.input_size = tuple(card["input_size"])
        self.input_scale = float(card["input_scale"])
        self.input_offset = float(card["input_offset"])
        self.light = card.get("crop_normalisation", "none")
        self.card = card
        self.threads = threads
        self._local = per_os_thread()
        self._model()  # fail now, not on the first face, if the file is bad

    def _model(self):
        """This OS thread's interpreter."""
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = TFLiteModel(self.model_path, self.threads)
        return model

    @property
    def max_views(self):
        """Views per face with every test-time view: 2 per zoom (plain, mirrored)."""
        return 2 * len(self.tta_zooms) if self.tta_zooms else 1

    def predict(self, face_crops, views=None, first_views=None):
        """Probabilities (N, len(labels)) for N crops of input_size, uint8 0..255,
        each the mean over `views` test-time views (default: all; 1: the crop alone,
        2: and its mirror image, 4: and both at the next zoom...).

        `first_views` (one per crop) starts each crop's views at that place in
        the cycle of all views, wrapping round: a stream that classifies a face
        one view at a time, from first views 0, 1, 2, 3, sees every view in
        four classifications."""
        if len(face_crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        count = len(face_crops)
        crops = normalize_light(np.stack(face_crops), self.light)
        views = self.max_views if views is None else min(views, self.max_views)
        first = np.zeros(count, int) if first_views is None else np.asarray(first_views, int)
        chosen = (first[None, :] + np.arange(views)[:, None]) % self.max_views  # (views, N)
        # Views come in zoom order (2 a zoom): zoom no further than the last one chosen.
        zooms = self.tta_zooms[:chosen.max() // 2 + 1]
        every_view = tta_views(crops, zooms) if zooms else crops
        every_view = every_view.reshape(-1, count, *crops.shape[1:])
        x = every_view[chosen, np.arange(count)].reshape(-1, *crops.shape[1:])
        x = normalize(x[..., None], self.input_scale, self.input_offset)
        return mean_of_views(self._model().predict(x), count)
