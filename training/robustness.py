"""How a model holds up on faces unlike FER-2013's: PrivateTest faces rotated,
shrunk, re-compressed, darkened, cut as the server cuts them (training.served),
and the labelled sample photos through the server's engine.

    python -m training.robustness models/emotion.tflite models/baseline/vgg_4views.tflite \
        --data fer2013.csv.gz --samples ../shared/samples

prints one row per model: accuracy per condition, with the views each model's
card names (as the server classifies a face).
"""
import argparse
import json
import os

import cv2
import numpy as np

from training import camera, data, served
from training.evaluate import predict_split

SAMPLE_LABELS = {"face_ckplus_happy_S124_007_00000024.png": "happy",
                 "face_ckplus_surprise_S124_001_00000014.png": "surprise",
                 "face_ckplus_neutral_S124_007_00000001.png": "neutral"}


def rotate(image, degrees):
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def darken(image, gain):
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def each(change):
    """A change of one face as a change of a stack of faces."""
    return lambda images: np.stack([change(image) for image in images])


CONDITIONS = {
    "as is": lambda images: images,
    "rotated 15°": each(lambda image: rotate(image, 15)),
    "rotated 30°": each(lambda image: rotate(image, 30)),
    "24 px": each(lambda image: camera.low_resolution(image, 24)),
    "JPEG q20": each(lambda image: camera.jpeg(image, 20)),
    "dark x0.4": each(lambda image: darken(image, 0.4)),
    "dim light": camera.dim_protocol,
    "served crop": lambda images: served.served_crops(images)[0],
}


def card_views(model_path):
    with open(os.path.splitext(model_path)[0] + ".json") as f:
        return tuple(json.load(f).get("tta_zooms", ()))


def condition_accuracies(model_path, split, names=tuple(CONDITIONS)):
    """{condition: accuracy} of the model on the split's faces so changed."""
    views = card_views(model_path)
    accuracies = {}
    for name in names:
        images = CONDITIONS[name](split.images)
        accuracies[name] = float(
            (predict_split(model_path, images, views).argmax(axis=1) == split.labels).mean())
    return accuracies


def sample_answers(model_path, samples_dir):
    """{file: (label, answer)} for the labelled sample photos, through the engine."""
    from webapp.vision.pipeline import Engine

    engine = Engine(model_path)
    answers = {}
    for name, label in SAMPLE_LABELS.items():
        image = cv2.imread(os.path.join(samples_dir, name))
        if image is None:
            continue
        faces = engine.analyze(image)["faces"]
        answers[name] = (label, faces[0]["emotion"] if faces else "no face")
    return answers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help=".tflite files with their JSON cards")
    parser.add_argument("--data", help=f"FER-2013 CSV; default ${data.DATA_ENV}")
    parser.add_argument("--split", choices=data.SPLITS, default="PrivateTest")
    parser.add_argument("--samples", help="folder with the sample photos")
    parser.add_argument("--condition", action="append", choices=list(CONDITIONS),
                        help="only this condition (repeat it for more); default: all")
    args = parser.parse_args(argv)
    names = tuple(args.condition or CONDITIONS)
    split = data.load_splits(args.data)[args.split]
    print(f"{args.split}, {len(split)} faces; accuracy per condition")
    print(f"{'model':<40}" + "".join(f"{name:>13}" for name in names))
    for model_path in args.models:
        accuracies = condition_accuracies(model_path, split, names)
        print(f"{model_path:<40}" + "".join(f"{accuracies[name]:>13.2%}" for name in names))
    if args.samples:
        for model_path in args.models:
            answers = sample_answers(model_path, args.samples)
            right = sum(label == answer for label, answer in answers.values())
            print(f"{model_path}: labelled sample photos {right}/{len(answers)}: "
                  + ", ".join(f"{label}->{answer}" for label, answer in answers.values()))


if __name__ == "__main__":
    main()
