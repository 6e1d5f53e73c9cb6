"""Evaluate an emotion model (.keras or .tflite) on a FER-2013 split.

    python -m training.evaluate models/emotion.tflite --data fer2013.csv.gz \
        --split PrivateTest --out models/metrics

prints and writes accuracy, macro-F1, per-class precision/recall/F1, the
confusion matrix (JSON and PNG) and the expected calibration error; `--tta`
averages each face's views as the server does (plain and mirrored, at the
zooms of `--tta-zooms`); `--ferplus` adds the accuracy against FER+ majority
votes.
"""
import argparse
import json
import os

import cv2
import numpy as np

from training import camera, data, metrics, served
from training.predict import model_light, predict
from webapp.vision.preprocess import (EMOTIONS, TTA_ZOOMS, normalize, normalize_light,
                                      tta_views, with_temperature)


def predict_views(model_path, images, tta_zooms, light=None):
    """(views, N, classes) probabilities for the `tta_views` of N 48x48 images,
    each first light-normalised as the model expects (or by `light`)."""
    images = normalize_light(images, model_light(model_path) if light is None else light)
    views = normalize(tta_views(images, tta_zooms)[..., None])
    return predict(model_path, views).reshape(-1, len(images), len(EMOTIONS))


def served_probabilities(model_path, images, chunk=256, classifier=None):
    """Probabilities for 48x48 images exactly as the server gives them for a
    photo: every view of every member its card names (webapp's classifier, or
    the `classifier` given)."""
    from webapp.vision.classify import EmotionClassifier

    classifier = classifier or EmotionClassifier(model_path)
    return np.concatenate([classifier.predict(list(images[start:start + chunk]))
                           for start in range(0, len(images), chunk)]).astype(np.float64)


def exported_card(model_path):
    """The card beside an exported .tflite ({} for anything else)."""
    card_path = os.path.splitext(model_path)[0] + ".json"
    if not model_path.endswith(".tflite") or not os.path.isfile(card_path):
        return {}
    with open(card_path) as f:
        return json.load(f)


def update_card(model_path, **fields):
    """Set these fields in the card beside an exported .tflite."""
    card = exported_card(model_path)
    card.update(fields)
    with open(os.path.splitext(model_path)[0] + ".json", "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")


def predict_split(model_path, images, tta_zooms=None, light=None):
    """Probabilities for 48x48 images, light-normalised as the model expects;
    averaged over `tta_views` when zooms are given. A model of several members
    (its card's `members`) is always answered as served, all views included."""
    card = exported_card(model_path)
    if card.get("members"):
        return served_probabilities(model_path, images)
    temperature = card.get("temperature", 1.0)
    if not tta_zooms:
        images = normalize_light(images, model_light(model_path) if light is None else light)
        return with_temperature(predict(model_path, normalize(images[..., None])), temperature)
    return with_temperature(predict_views(model_path, images, tta_zooms, light).mean(axis=0),
                            temperature)


def draw_confusion(confusion, path, labels=EMOTIONS, cell=70):
    """A row-normalised confusion matrix as a PNG (true rows, predicted columns)."""
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    margin = 90
    size = margin + cell * len(labels)
    canvas = np.full((size + 30, size + 10, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, label in enumerate(labels):
        cv2.putText(canvas, label, (4, margin + i * cell + cell // 2 + 5), font, 0.45, 0, 1)
        cv2.putText(canvas, label[:5], (margin + i * cell + 8, margin - 12), font, 0.45, 0, 1)
        for j in range(len(labels)):
            shade = int(255 * (1 - rates[i, j]))
            top_left = (margin + j * cell, margin + i * cell)
            bottom_right = (top_left[0] + cell - 2, top_left[1] + cell - 2)
            cv2.rectangle(canvas, top_left, bottom_right, (255, shade, shade), -1)
            colour = (255, 255, 255) if rates[i, j] > 0.5 else (0, 0, 0)
            cv2.putText(canvas, f"{rates[i, j]:.2f}", (top_left[0] + 14, top_left[1] + 40),
                        font, 0.5, colour, 1)
    cv2.putText(canvas, "rows: true label, columns: predicted", (margin, size + 20), font,
                0.45, 0, 1)
    cv2.imwrite(path, canvas)


def print_report(summary):
    print(f"samples {summary['samples']}  accuracy {summary['accuracy']:.4f}  "
          f"macro-F1 {summary['macro_f1']:.4f}  ECE {summary['ece']:.4f}")
    print(f"{'class':>9} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for label, figures in summary["per_class"].items():
        print(f"{label:>9} {figures['precision']:9.3f} {figures['recall']:7.3f} "
              f"{figures['f1']:6.3f} {figures['support']:8d}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate an emotion model on FER-2013.")
    parser.add_argument("model", help=".keras or .tflite file")
    parser.add_argument("--data", help=f"FER-2013 CSV; default ${data.DATA_ENV}")
    parser.add_argument("--ferplus", help="FER+ votes CSV: also report FER+ majority accuracy")
    parser.add_argument("--split", choices=data.CHOOSABLE, default="PrivateTest")
    parser.add_argument("--tta", action="store_true",
                        help="average each face's views as the server does")
    parser.add_argument("--tta-zooms", type=lambda text: tuple(map(float, text.split(","))),
                        default=TTA_ZOOMS, help="zooms of the views (default: %(default)s)")
    parser.add_argument("--crops", choices=served.CROPS, default="fer",
                        help="score FER-2013's own crops, or the faces cut as the server "
                             "cuts them (training.served)")
    parser.add_argument("--dim", action="store_true",
                        help="score the faces darkened by the dim-light protocol "
                             "(training.camera.dim_protocol)")
    parser.add_argument("--limit", type=int, help="first N rows of each split only")
    parser.add_argument("--out", help="directory for metrics.json and confusion.png")
    parser.add_argument("--card", action="store_true",
                        help="also write the figures into the .tflite model's card (`metrics`)")
    args = parser.parse_args(argv)
    if args.card and not exported_card(args.model):
        parser.error("--card needs an exported .tflite with its card")

    split = data.load_split(args.split, args.data, args.ferplus, limit=args.limit)
    tta_zooms = args.tta_zooms if args.tta else None
    images = camera.dim_protocol(split.images) if args.dim else split.images
    images = served.as_cropped(images, args.crops)
    probabilities = predict_split(args.model, images, tta_zooms)
    summary = metrics.summarize(probabilities, split.labels)
    summary.update(split=args.split, model=os.path.basename(args.model), tta=args.tta,
                   tta_zooms=tta_zooms, crops=args.crops, dim=args.dim)
    if split.votes is not None:
        summary["ferplus_majority_accuracy"] = metrics.majority_accuracy(probabilities,
                                                                         split.votes)
    print_report(summary)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(summary, f, indent=2)
        draw_confusion(np.array(summary["confusion_matrix"]), os.path.join(args.out, "confusion.png"))
        print(f"wrote {args.out}/metrics.json and confusion.png")
    if args.card:  # as training.members --metrics does
        update_card(args.model, metrics=summary)


if __name__ == "__main__":
    main()
