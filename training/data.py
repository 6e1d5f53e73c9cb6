"""FER-2013 (and optional FER+ vote) loading, checked row by row.

FER-2013 is a CSV with the header `emotion,pixels,Usage` (gzip accepted): one
48x48 grayscale face per row, labels 0..6 in the order of `EMOTIONS`, and the
split in `Usage` (Training, PublicTest, PrivateTest). FER+ is a CSV of vote
counts per image, aligned row for row with FER-2013.
"""
import csv
import gzip
import io
import os
from dataclasses import dataclass

import numpy as np

from webapp.vision.preprocess import EMOTIONS, INPUT_SIZE

SPLITS = ("Training", "PublicTest", "PrivateTest")
# A slice of Training that no run trains on when asked (`holdout=`): it chooses
# checkpoints, offsets and members, so that PublicTest and PrivateTest only measure.
HOLDOUT = "Holdout"
HOLDOUT_SIZE = 2000
HOLDOUT_SEED = 2026
CHOOSABLE = SPLITS + (HOLDOUT,)
PIXELS_PER_IMAGE = INPUT_SIZE[0] * INPUT_SIZE[1]
DATA_ENV = "FER2013_CSV"
FERPLUS_ENV = "FERPLUS_CSV"
# FER+ column for each of our labels, in EMOTIONS order ("contempt" and
# "unknown" have no counterpart and are dropped; "NF" means not a face).
FERPLUS_COLUMNS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


class DataError(ValueError):
    """The data file is not the FER-2013 / FER+ layout we expect."""


@dataclass
class Split:
    """One Usage split: images (N, 48, 48) uint8, labels (N,) int, the
    FER+ vote distribution (N, 7) float32 when FER+ was given, and each face's
    row number in the FER-2013 file."""

    images: np.ndarray
    labels: np.ndarray
    votes: np.ndarray | None = None
    rows: np.ndarray | None = None

    def __len__(self):
        return len(self.labels)

    def targets(self, source="fer2013"):
        """Training targets (N, 7): one-hot FER-2013 labels or FER+ votes."""
        if source == "ferplus":
            if self.votes is None:
                raise DataError("FER+ targets asked for, but no FER+ file was loaded")
            return self.votes
        return np.eye(len(EMOTIONS), dtype=np.float32)[self.labels]


def resolve_path(path, env_name):
    """The path given, else the environment variable's, else a clear error."""
    path = path or os.environ.get(env_name)
    if not path:
        raise DataError(f"no data file given: pass a path or set ${env_name}")
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {path}")
    return path


def _open_text(path):
    raw = open(path, "rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline="")
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def read_fer2013(path, limit=None):
    """Read the CSV into (images, labels, usages, row_numbers); checks every row.

    `limit` keeps the first `limit` rows of each split (for quick runs).
    """
    images, labels, usages, rows = [], [], [], []
    per_split = dict.fromkeys(SPLITS, 0)
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise DataError(f"{path}: expected the header 'emotion,pixels,Usage', got {header!r}")
        for row_number, row in enumerate(reader):
            line = row_number + 2
            if len(row) < 3:
                raise DataError(f"{path}, line {line}: expected 3 fields, got {len(row)}")
            label, pixels, usage = row[0], row[1], row[2].strip()
            if usage not in per_split:
                raise DataError(f"{path}, line {line}: unknown Usage {usage!r}")
            if not label.isdigit() or int(label) >= len(EMOTIONS):
                raise DataError(f"{path}, line {line}: emotion must be 0..6, got {label!r}")
            if limit is not None and per_split[usage] >= limit:
                continue
            try:
                image = np.array(pixels.split(), dtype=np.int32)
            except ValueError:
                raise DataError(f"{path}, line {line}: pixels must be integers") from None
            if image.size != PIXELS_PER_IMAGE or image.min() < 0 or image.max() > 255:
                raise DataError(
                    f"{path}, line {line}: expected {PIXELS_PER_IMAGE} pixel values in 0..255"
                )
            images.append(image.astype(np.uint8).reshape(INPUT_SIZE))
            labels.append(int(label))
            usages.append(usage)
            rows.append(row_number)
            per_split[usage] += 1
    if not images:
        raise DataError(f"{path}: no data rows")
    return np.stack(images), np.array(labels), np.array(usages), np.array(rows)


def read_ferplus(path):
    """FER+ votes (rows, 7) in EMOTIONS order, and a mask of usable rows
    (a face by majority, with at least one vote for one of our 7 labels)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(FERPLUS_COLUMNS + ("NF",)) - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: not a FER+ file, missing columns {sorted(missing)}")
        votes, usable = [], []
        for row in reader:
            counts = [float(row[c]) for c in FERPLUS_COLUMNS]
            total = sum(float(row[c]) for c in reader.fieldnames[2:])
            not_face = float(row["NF"]) > total / 2
            votes.append(counts)
            usable.append(sum(counts) > 0 and not not_face)
    votes = np.array(votes, dtype=np.float32)
    sums = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, sums, out=np.zeros_like(votes), where=sums > 0), np.array(usable)


def load_splits(path=None, ferplus_path=None, limit=None, drop_blank=True, holdout=0):
    """Load FER-2013 (and FER+) as {usage: Split}.

    With FER+, rows FER+ marks as not a face are dropped from Training only;
    the test splits keep every row so their figures stay comparable with
    published FER-2013 results. Blank (all-black) training images are dropped.
    With `holdout`, that many Training rows become the split `Holdout`
    (see `held_out`), kept whole like the test splits.
    """
    path = resolve_path(path, DATA_ENV)
    images, labels, usages, rows = read_fer2013(path, limit=limit)
    if holdout:
        usages = np.where(held_out(usages, labels, holdout), HOLDOUT, usages)
    votes = usable = None
    if ferplus_path or os.environ.get(FERPLUS_ENV):
        all_votes, all_usable = read_ferplus(resolve_path(ferplus_path, FERPLUS_ENV))
        if rows.max() >= len(all_votes):
            raise DataError("FER+ file has fewer rows than FER-2013: are they aligned?")
        votes, usable = all_votes[rows], all_usable[rows]
    splits = {}
    for usage in SPLITS + ((HOLDOUT,) if holdout else ()):
        keep = usages == usage
        if usage == "Training":
            if drop_blank:
                keep &= images.reshape(len(images), -1).max(axis=1) > 0
            if usable is not None:
                keep &= usable
        splits[usage] = Split(
            images=images[keep],
            labels=labels[keep],
            votes=None if votes is None else _fill_empty_votes(votes[keep], labels[keep]),
            rows=rows[keep],
        )
    return splits


def load_split(name, path=None, ferplus_path=None, limit=None):
    """One split by name, `Holdout` included (at its standard size; a tenth of
    the rows kept with `limit`)."""
    size = HOLDOUT_SIZE if limit is None else min(HOLDOUT_SIZE, max(1, limit // 10))
    holdout = size if name == HOLDOUT else 0
    return load_splits(path, ferplus_path, limit=limit, holdout=holdout)[name]


def held_out(usages, labels, size, seed=HOLDOUT_SEED):
    """A mask of `size` Training rows, each label in its share of Training.

    The draw depends only on the file's Training rows, not on the run: every
    run and every tool that asks for the holdout gets the same faces."""
    training = np.flatnonzero(usages == "Training")
    if not 0 < size < len(training):
        raise DataError(f"cannot hold out {size} of {len(training)} training rows")
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels[training], minlength=len(EMOTIONS))
    quotas = counts * size / len(training)
    taken = np.floor(quotas).astype(int)
    taken[np.argsort(taken - quotas)[:size - taken.sum()]] += 1  # largest remainders
    chosen = [rng.permutation(training[labels[training] == label])[:taken[label]]
              for label in range(len(EMOTIONS))]
    mask = np.zeros(len(usages), bool)
    mask[np.concatenate(chosen)] = True
    return mask


def joined(first, second):
    """One Split of two (votes kept only when both have them)."""
    votes = (None if first.votes is None or second.votes is None
             else np.concatenate([first.votes, second.votes]))
    rows = (None if first.rows is None or second.rows is None
            else np.concatenate([first.rows, second.rows]))
    return Split(np.concatenate([first.images, second.images]),
                 np.concatenate([first.labels, second.labels]), votes, rows)


def _fill_empty_votes(votes, labels):
    """Rows FER+ gives no usable votes fall back to their FER-2013 label."""
    empty = votes.sum(axis=1) == 0
    votes = votes.copy()
    votes[empty] = np.eye(len(EMOTIONS), dtype=np.float32)[labels[empty]]
    return votes


def class_weights(labels, power=0.5):
    """Per-class loss weights, (N / (K * n_c)) ** power, mean 1 over samples."""
    counts = np.bincount(labels, minlength=len(EMOTIONS)).astype(np.float64)
    weights = (counts.sum() / (len(EMOTIONS) * np.maximum(counts, 1))) ** power
    weights /= (weights[labels]).mean()
    return weights.astype(np.float32)
