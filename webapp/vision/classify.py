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
from webapp.vision.preprocess import (POSTERISED_GREY_LEVELS, TTA_ZOOMS, grey_levels, normalize,
                                      normalize_light, tta_views, with_temperature)
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


class Member:
    """One network of the model: its file, the light normalisation of its crops,
    the zooms of its views (plain and mirrored at each), its weight, whether it
    votes on posterised crops (see preprocess.POSTERISED_GREY_LEVELS), and whether
    it takes turns when a classification takes fewer views than all (`in_rotation`:
    a dearer network answers every-view classifications only)."""

    def __init__(self, model_path, light="none", tta_zooms=TTA_ZOOMS, weight=1.0,
                 reads_posterised=True, in_rotation=True):
        self.model_path = os.path.abspath(model_path)
        self.light = light
        self.tta_zooms = tuple(tta_zooms)
        self.weight = float(weight)
        self.reads_posterised = bool(reads_posterised)
        self.in_rotation = bool(in_rotation)
        self.views = 2 * len(self.tta_zooms) if self.tta_zooms else 1

    def view_stack(self, crops, upto):
        """(upto + 1, N, h, w) of its views 0..upto of N uint8 crops, light-normalised."""
        crops = normalize_light(crops, self.light)
        zooms = self.tta_zooms[:upto // 2 + 1]  # views come 2 a zoom: no further than needed
        every_view = tta_views(crops, zooms) if zooms else crops
        return every_view.reshape(-1, *crops.shape)[:upto + 1]


def members_of(card, model_path, tta_zooms=None):
    """The members a card describes (`members`: a list of {"file", "crop_normalisation",
    "tta_zooms", "weight", "reads_posterised", "in_rotation"}, files beside the card), or
    the card's own file alone."""
    folder = os.path.dirname(model_path)
    if card.get("members"):
        members = [Member(os.path.join(folder, member["file"]),
                          member.get("crop_normalisation", "none"),
                          member.get("tta_zooms", TTA_ZOOMS) if tta_zooms is None else tta_zooms,
                          member.get("weight", 1.0), member.get("reads_posterised", True),
                          member.get("in_rotation", True))
                   for member in card["members"]]
        if not any(member.in_rotation for member in members):
            raise ValueError("the card's members are all out of the rotation: "
                             "at least one must take turns")
        return members
    zooms = card.get("tta_zooms", TTA_ZOOMS) if tta_zooms is None else tta_zooms
    return [Member(model_path, card.get("crop_normalisation", "none"), zooms)]


class EmotionClassifier:
    """Batch of grayscale face crops -> (N, labels) probabilities.

    The model is one network or several members (the card's `members`); a face's
    answer is the weighted mean over every view of every member, each member's
    views counted as one, then sharpened by the card's `temperature` (1 when it
    has none), fitted so that confidence matches accuracy. The views form one
    cycle, members taking turns (view 0 of each member, then view 1 of each...),
    so that a stream classifying a face one view at a time draws on every member
    in as many classifications. A posterised crop (at most the card's
    `posterised_grey_levels` grey levels) goes round the cycle of the members
    that read posterised crops only. A classification that takes fewer views
    than all goes round the cycle of the members in the rotation only."""

    def __init__(self, model_path=DEFAULT_MODEL, threads=1, tta_zooms=None, temperature=None):
        self.model_path = os.path.abspath(model_path)
        card = read_model_card(self.model_path)
        self.members = members_of(card, self.model_path, tta_zooms)
        # The card's temperature (training.calibrate) makes confidence match accuracy.
        self.temperature = float(card.get("temperature", 1.0) if temperature is None
                                 else temperature)
        self.tta_zooms = self.members[0].tta_zooms
        self.labels = tuple(card["labels"])
        self.input_size = tuple(card["input_size"])
        self.input_scale = float(card["input_scale"])
        self.input_offset = float(card["input_offset"])
        self.card = card
        self.threads = threads
        # The cycle of views: (member, its view), members taking turns.
        most = max(member.views for member in self.members)
        self.cycle = [(m, v) for v in range(most) for m, member in enumerate(self.members)
                      if v < member.views]
        readers = [(m, v) for m, v in self.cycle if self.members[m].reads_posterised]
        self.posterised_cycle = readers if 0 < len(readers) < len(self.cycle) else self.cycle
        self.rotation = self._in_rotation(self.cycle)
        self.posterised_rotation = self._in_rotation(self.posterised_cycle)
        self.posterised_grey_levels = int(card.get("posterised_grey_levels",
                                                   POSTERISED_GREY_LEVELS))
        self._local = per_os_thread()
        self._models()  # fail now, not on the first face, if a file is bad

    def _in_rotation(self, cycle):
        """The views of `cycle` whose members take turns (all of it if none do)."""
        turns = [(m, v) for m, v in cycle if self.members[m].in_rotation]
        return turns or cycle

    def _models(self):
        """This OS thread's interpreters, one per member."""
        models = getattr(self._local, "models", None)
        if models is None:
            models = self._local.models = [TFLiteModel(member.model_path, self.threads)
                                           for member in self.members]
        return models

    @property
    def max_views(self):
        """Views per face with every member's every view."""
        return len(self.cycle)

    def predict(self, face_crops, views=None, first_views=None):
        """Probabilities (N, len(labels)) for N crops of input_size, uint8 0..255,
        each the weighted mean over `views` views of its cycle (default: all).

        `first_views` (one per crop) starts each crop's views at that place in
        its cycle, wrapping round: a stream that classifies a face one view at a
        time, from first views 0, 1, 2..., sees every view of every member in
        `max_views` classifications."""
        if len(face_crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        crops = np.stack(face_crops)
        count = len(crops)
        first = np.zeros(count, int) if first_views is None else np.asarray(first_views, int)
        picks = [[] for _ in self.members]  # per member: (its view, crop index)
        for n, cycle in enumerate(self.cycles_for(crops, views)):
            for step in range(len(cycle) if views is None else min(views, len(cycle))):
                m, v = cycle[(first[n] + step) % len(cycle)]
                picks[m].append((v, n))
        total = np.zeros((count, len(self.labels)), np.float64)
        weights = np.zeros(count, np.float64)
        for member, model, member_picks in zip(self.members, self._models(), picks):
            if not member_picks:
                continue
            stack = member.view_stack(crops, max(v for v, _ in member_picks))
            x = np.stack([stack[v, n] for v, n in member_picks])
            answers = model.predict(normalize(x[..., None], self.input_scale, self.input_offset))
            share = member.weight / member.views
            for (_, n), answer in zip(member_picks, answers):
                total[n] += share * answer
                weights[n] += share
        return with_temperature(total / weights[:, None], self.temperature).astype(np.float32)

    def cycles_for(self, crops, views=None):
        """Each crop's cycle of views: the posterised cycle for a posterised crop;
        its rotation when `views` are fewer than the whole cycle."""
        def cycle(whole, rotation):
            return whole if views is None or views >= len(whole) else rotation
        plain = cycle(self.cycle, self.rotation)
        if self.posterised_cycle is self.cycle:
            return [plain] * len(crops)
        flat = cycle(self.posterised_cycle, self.posterised_rotation)
        posterised = grey_levels(crops) <= self.posterised_grey_levels
        return [flat if dark else plain for dark in posterised]
