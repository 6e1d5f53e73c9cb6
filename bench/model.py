"""Emotion model cost, of the shipped model or of several candidates side by side.

    python bench/model.py [MODEL.tflite ...] [--data fer2013.csv.gz [--ferplus ferplus.csv]]

For each model (default: models/emotion.tflite): file size, multiply-accumulates
per view (read from the TFLite graph), one single-threaded TFLite call, and a
face as the server classifies it (all the views its card names, averaged).
Several models are timed in alternating rounds, so a busy machine slows them
alike; the last line is then the cost ratio of the first to the last.

With `--data`, each model is also scored as served (its card's views) on a
FER-2013 split (PublicTest by default: choices are made there, PrivateTest is
for the final figure) and a table of accuracy against cost is printed, the
first model being the reference for the cost column; its last column is the
accuracy on the same faces cut as the server cuts them (training.served).
"""
import argparse
import json
import os
import time

import numpy as np

from common import REPO_ROOT, cpu_summary, percentile_ms, pin_to_one_core
from training import data  # noqa: E402  (importable once common has set the path)

DEFAULT_MODEL = os.path.join(REPO_ROOT, "models", "emotion.tflite")


def multiply_accumulates(model):
    """MACs of one view: convolutions and fully connected layers of the graph."""
    interpreter = model.interpreter
    shapes = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        name, inputs, outputs = op["op_name"], op["inputs"], op["outputs"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weights, output = shapes[inputs[1]], shapes[outputs[0]]
        if name == "FULLY_CONNECTED":
            total += int(np.prod(weights))
        elif name == "CONV_2D":  # weights: out, kh, kw, in
            total += int(np.prod(output[1:3])) * int(np.prod(weights))
        else:  # weights: 1, kh, kw, out
            total += int(np.prod(output[1:])) * int(np.prod(weights[1:3]))
    return total


class Candidate:
    def __init__(self, path):
        from webapp.vision.classify import EmotionClassifier
        from webapp.vision.tflite import TFLiteModel

        self.path = path
        self.name = os.path.relpath(path, REPO_ROOT)  # run folders all hold an emotion.tflite
        with open(os.path.splitext(path)[0] + ".json") as f:
            self.card = json.load(f)
        self.model = TFLiteModel(path, threads=1)
        self.classifier = EmotionClassifier(path, threads=1)
        self.views = self.classifier.max_views
        self.call_seconds, self.face_seconds = [], []

    def time_round(self, inputs, crops):
        for x in inputs:
            started = time.perf_counter()
            self.model.predict(x)
            self.call_seconds.append(time.perf_counter() - started)
        for crop in crops:
            started = time.perf_counter()
            self.classifier.predict([crop])
            self.face_seconds.append(time.perf_counter() - started)

    def report(self):
        accuracy = self.card.get("metrics", {}).get("accuracy")
        print(f"{self.name}: {self.card.get('architecture')}, {self.card.get('weights')}, "
              f"{os.path.getsize(self.path) / 1e6:.2f} MB, "
              f"{multiply_accumulates(self.model) / 1e6:.1f} M MACs a view, "
              f"{self.views} view(s) a face"
              + (f", PrivateTest as served {accuracy:.2%}" if accuracy else ""))
        print(f"  one TFLite call: median {percentile_ms(self.call_seconds, 50):.3f} ms, "
              f"p95 {percentile_ms(self.call_seconds, 95):.3f} ms")
        print(f"  a face as the server classifies it: median "
              f"{percentile_ms(self.face_seconds, 50):.3f} ms, "
              f"p95 {percentile_ms(self.face_seconds, 95):.3f} ms")


def score(candidates, data_path, ferplus_path, split_name):
    """Accuracy figures of each candidate as served on one FER-2013 split."""
    from training import metrics
    from training.evaluate import predict_split
    from training.served import served_crops

    split = data.load_splits(data_path, ferplus_path)[split_name]
    cut_as_served = served_crops(split.images)[0]
    scores = []
    for candidate in candidates:
        views = candidate.classifier.tta_zooms
        probabilities = predict_split(candidate.path, split.images, views)
        summary = metrics.summarize(probabilities, split.labels)
        recall = {label: figures["recall"] for label, figures in summary["per_class"].items()}
        served = predict_split(candidate.path, cut_as_served, views).argmax(axis=1)
        scores.append({
            "accuracy": summary["accuracy"], "fear": recall["fear"], "disgust": recall["disgust"],
            "served": float((served == split.labels).mean()),
            "ferplus": (metrics.majority_accuracy(probabilities, split.votes)
                        if split.votes is not None else None),
        })
    return scores


def print_table(candidates, scores, split_name):
    reference = percentile_ms(candidates[0].face_seconds, 50)
    print(f"\n| model | views | M MACs a view | ms a face | cost vs first | {split_name} "
          f"| fear recall | disgust recall | FER+ majority | served crops |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for candidate, figures in zip(candidates, scores):
        face_ms = percentile_ms(candidate.face_seconds, 50)
        ferplus = f"{figures['ferplus']:.2%}" if figures["ferplus"] is not None else "-"
        print(f"| {candidate.name} | {candidate.views} "
              f"| {multiply_accumulates(candidate.model) / 1e6:.1f} | {face_ms:.3f} "
              f"| {face_ms / reference:.2f} | {figures['accuracy']:.2%} | {figures['fear']:.3f} "
              f"| {figures['disgust']:.3f} | {ferplus} | {figures['served']:.2%} |")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=[DEFAULT_MODEL], help=".tflite files")
    parser.add_argument("--data", help="FER-2013 CSV: also score each model as served")
    parser.add_argument("--ferplus", help="FER+ votes CSV: add FER+ majority accuracy")
    parser.add_argument("--split", default="PublicTest", choices=data.SPLITS)
    return parser.parse_args()


def main():
    args = parse_args()
    pin_to_one_core()
    candidates = [Candidate(path) for path in args.models]
    rng = np.random.default_rng(0)
    size = candidates[0].card["input_size"]
    inputs = rng.uniform(-1, 1, (100, 1, *size, 1)).astype(np.float32)
    crops = rng.integers(0, 256, (100, *size), np.uint8)
    for candidate in candidates:  # warm-up
        candidate.time_round(inputs[:20], crops[:20])
        candidate.call_seconds, candidate.face_seconds = [], []
    for _ in range(5):
        for candidate in candidates:
            candidate.time_round(inputs, crops)
    print(cpu_summary())
    for candidate in candidates:
        candidate.report()
    if len(candidates) > 1:
        first, last = candidates[0], candidates[-1]
        ratio = percentile_ms(first.face_seconds, 50) / percentile_ms(last.face_seconds, 50)
        print(f"a face costs {ratio:.2f}x as much with {first.name} as with {last.name} "
              f"(median, single thread)")
    if args.data:
        print_table(candidates, score(candidates, args.data, args.ferplus, args.split), args.split)


if __name__ == "__main__":
    main()
