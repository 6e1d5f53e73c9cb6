"""Which test-time views for a photo: shifts, rotations and zooms beside the card's own.

    python bench/view_choice.py [MODEL.tflite] [--data fer2013.csv.gz] [--most 8] [--limit N]

For each member of the model, every candidate view (zooms 0.9-1.15, shifts of
2 px, rotations of 6 and 12 degrees, each plain and mirrored) of every face of
PublicTest and PrivateTest, in three conditions: FER-2013's crops as they are,
dimmed by the dim protocol (training.camera.dim_protocol), and cut as the server
cuts them from the face a user sends (testkit.synthetic.as_user_sends, the
server's detector and crop). The members keep their weights and offsets.

The choice is made on PublicTest alone: starting from the card's views, add
the pair (a view and its mirror image) that raises the mean of the three
accuracies most, and keep adding while a pair gains at least 0.10 point (at
most --most views a member). Then PublicTest and PrivateTest for the card's
views and for the choice, side by side.
"""
import argparse
import os

import cv2
import numpy as np

from common import REPO_ROOT, cpu_summary, fer2013_path
from testkit.synthetic import as_user_sends
from training import camera, data
from webapp.vision.classify import EmotionClassifier
from webapp.vision.pipeline import Engine
from webapp.vision.preprocess import normalize, normalize_light, tta_views
from webapp.vision.tflite import TFLiteModel

CONDITIONS = ("clean", "dim", "as-user")
MIN_GAIN = 0.10  # points of the mean of the three accuracies


def candidate_views():
    """{name: (zoom, dx, dy, degrees)}: each a view whose mirror is `name`m."""
    views = {f"zoom {z}": (z, 0, 0, 0) for z in (0.9, 0.95, 1.0, 1.05, 1.1, 1.15)}
    views.update({f"shift {dx},{dy}": (1.0, dx, dy, 0)
                  for dx, dy in ((2, 0), (-2, 0), (0, 2), (0, -2), (2, 2), (-2, 2), (2, -2), (-2, -2))})
    views.update({f"rotate {a}": (1.0, 0, 0, a) for a in (6, -6, 12, -12)})
    return views


def view_of(crop, zoom, dx, dy, degrees, mirror):
    """The crop zoomed out by `zoom`, shifted and rotated about its centre (edges mirrored);
    a zoom alone is the server's own view (preprocess.tta_views)."""
    if dx == dy == degrees == 0:
        return tta_views(crop[None], (zoom,))[int(mirror)]
    if mirror:
        crop = np.ascontiguousarray(crop[:, ::-1])
    h, w = crop.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0 / zoom)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(crop, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def server_crops(model_path, faces):
    """(crops, found): the crop the server cuts of the largest face in what a user sends."""
    engine = Engine(model_path, detector="blazeface_short")
    detector, crops, found = engine.detector(), [], []
    for face in faces:
        image = cv2.cvtColor(as_user_sends(face), cv2.COLOR_GRAY2BGR)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        cut = [(d.box[2] * d.box[3], engine.crop(gray, d))
               for d in (detector.detect(image, tiles=True) or detector.second_look(image))]
        cut = [(area, crop) for area, crop in cut if crop is not None]
        found.append(bool(cut))
        crops.append(max(cut, key=lambda c: c[0])[1] if cut else np.zeros_like(face))
    return np.stack(crops), np.array(found)


def answers(classifier, inputs, views):
    """{(member, condition): (views, N, classes)}: every member's answer to every view."""
    table = {}
    for m, member in enumerate(classifier.members):
        model = TFLiteModel(member.model_path, threads=os.cpu_count() or 1)
        for condition, crops in inputs.items():
            lit = normalize_light(crops, member.light)
            table[m, condition] = np.stack([
                model.predict_many(normalize(np.stack([view_of(c, *spec, mirror) for c in lit]))[..., None])
                for spec in views.values() for mirror in (False, True)])
    return table


def accuracy(classifier, table, labels, found, condition, chosen):
    """Accuracy of the members' weighted mean over the `chosen` view rows."""
    total = sum(member.weight * table[m, condition][chosen].mean(0)
                for m, member in enumerate(classifier.members))
    right = total.argmax(1) == labels
    return float((right & found).mean() if condition == "as-user" else right.mean())


def rows_of(names, chosen):
    """Row numbers of the chosen view names and their mirror images."""
    return [2 * names.index(name) + mirror for name in chosen for mirror in (0, 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=os.path.join(REPO_ROOT, "models", "emotion.tflite"))
    parser.add_argument("--data", default=fer2013_path())
    parser.add_argument("--most", type=int, default=8, help="most views a member (default: 8)")
    parser.add_argument("--limit", type=int, help="only the first N faces of each split")
    args = parser.parse_args()

    classifier, views = EmotionClassifier(args.model), candidate_views()
    names = list(views)
    splits = data.load_splits(args.data, None, limit=args.limit)
    results = {}
    for split in ("PublicTest", "PrivateTest"):
        faces = splits[split].images
        crops, found = server_crops(args.model, faces)
        inputs = {"clean": faces, "dim": camera.dim_protocol(faces), "as-user": crops}
        results[split] = (answers(classifier, inputs, views), splits[split].labels, found)

    def figures(split, chosen):
        table, labels, found = results[split]
        return [100 * accuracy(classifier, table, labels, found, c, rows_of(names, chosen))
                for c in CONDITIONS]

    card = [f"zoom {z}" for z in classifier.members[0].tta_zooms]
    chosen = list(card)
    while 2 * (len(chosen) + 1) <= args.most:
        now = np.mean(figures("PublicTest", chosen))
        gain, best = max((np.mean(figures("PublicTest", chosen + [n])) - now, n)
                         for n in names if n not in chosen)
        if gain < MIN_GAIN:
            break
        chosen.append(best)

    print(cpu_summary())
    print(f"{'views (each plain and mirrored)':52s} {'split':12s} clean / dim / as-user (mean)")
    for label, picked in (("the card's: " + ", ".join(card), card),
                          ("chosen on PublicTest: " + ", ".join(chosen), chosen)):
        for split in results:
            f = figures(split, picked)
            print(f"{label:52s} {split:12s} " + " / ".join(f"{x:.2f}" for x in f)
                  + f" ({np.mean(f):.2f})")


if __name__ == "__main__":
    main()
