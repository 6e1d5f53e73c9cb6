"""This project against the `fer` package, side by side in one run.

    bash bench/fer_env.sh                      # once: makes .venv-fer
    .venv-fer/bin/python bench/compare_fer.py  # [--data fer2013.csv.gz]

1. Accuracy on FER-2013 PrivateTest: our TFLite model (as the server runs it,
   with its test-time views) and fer's bundled models, on the same 3,589 faces.
2. Time per 640x480 frame with one face on one core, JPEG bytes -> emotions,
   on both sample clips, interleaved frame by frame: our engine as served (a
   stream session: BlazeFace, classification on its schedule), the same with
   one test-time view a classification (rotated, as under load), our engine
   classifying every face of every frame (`classify_interval=0`), and fer's
   `detect_emotions` (Haar + its CNN).
"""
import argparse
import os
import time

import cv2
import numpy as np

from common import (
    CLIPS, REPO_ROOT, clip_jpegs, cpu_summary, percentile_ms, pin_to_one_core,
)


def fer_detector(use_tflite=True):
    import logging

    from fer.fer import FER

    logging.getLogger("fer").setLevel(logging.WARNING)
    return FER(use_tflite=use_tflite)


def fer_probabilities(detector, faces_48):
    """fer's CNN on FER-2013 faces, preprocessed as its detect_emotions does."""
    size = 64
    faces = np.array([cv2.resize(face, (size, size)) for face in faces_48], np.float32)
    faces = (faces / 255.0 - 0.5) * 2.0
    batch = 256
    return np.concatenate([np.asarray(detector._classify_emotions(faces[i:i + batch]))
                           for i in range(0, len(faces), batch)])


def compare_accuracy(data_path):
    from training import data
    from webapp.vision.classify import EmotionClassifier

    split = data.load_splits(data_path)["PrivateTest"]
    ours = EmotionClassifier()
    our_probabilities = np.concatenate([ours.predict(list(split.images[i:i + 64]))
                                        for i in range(0, len(split), 64)])
    rows = [("this project (models/emotion.tflite)", our_probabilities)]
    rows.append(("fer 25.10.3, bundled TFLite model (its default)",
                 fer_probabilities(fer_detector(True), split.images)))
    rows.append(("fer 25.10.3, bundled Keras model (emotion_model.hdf5)",
                 fer_probabilities(fer_detector(False), split.images)))
    print(f"FER-2013 PrivateTest, {len(split)} faces:")
    for name, probabilities in rows:
        predicted = probabilities.argmax(1)
        recall = [(predicted[split.labels == k] == k).mean() for k in range(7)]
        print(f"  {name:55s} accuracy {(predicted == split.labels).mean():.4f}  "
              f"disgust recall {recall[1]:.3f}  fear recall {recall[2]:.3f}")


def compare_speed(clip_name):
    from webapp.vision.pipeline import Engine

    encoded, fps = clip_jpegs(clip_name)
    if encoded is None:
        print(f"speed: {clip_name} not found, skipped")
        return
    engine, detector = Engine(), fer_detector(True)
    for data in encoded[:10]:
        engine.analyze_bytes(data)
        detector.detect_emotions(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    runs = {"ours": engine.session(), "ours, 1 view": engine.session(views=1),
            "ours, every frame": engine.session(classify_interval=0)}
    timings = {name: [] for name in (*runs, "fer")}
    found = dict.fromkeys(timings, 0)
    for index, data in enumerate(encoded):  # interleaved, so all see the same machine state
        for name, session in runs.items():
            started = time.perf_counter()
            faces = session.process_bytes(data, timestamp=index / fps)["faces"]
            timings[name].append(time.perf_counter() - started)
            found[name] += bool(faces)
        started = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        faces = detector.detect_emotions(image)
        timings["fer"].append(time.perf_counter() - started)
        found["fer"] += bool(faces)
    print(f"{clip_name}: {len(encoded)} frames 640x480, one core, JPEG bytes -> emotions")
    for name in timings:
        print(f"  {name:17s}: median {percentile_ms(timings[name], 50):6.2f} ms  "
              f"p95 {percentile_ms(timings[name], 95):6.2f} ms  "
              f"mean {np.mean(timings[name]) * 1000:6.2f} ms  "
              f"face found in {found[name]}/{len(encoded)} frames")
    for name in runs:
        print(f"  {name} is {np.median(timings['fer']) / np.median(timings[name]):.1f}x faster "
              f"per frame than fer (median), {np.mean(timings['fer']) / np.mean(timings[name]):.1f}x"
              " (mean)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="FER-2013 CSV (default: $FER2013_CSV or ../shared/data)")
    parser.add_argument("--speed-only", action="store_true", help="skip the accuracy part")
    args = parser.parse_args()
    pin_to_one_core()
    print(cpu_summary())
    data_path = args.data or os.environ.get("FER2013_CSV") or os.path.join(
        REPO_ROOT, "..", "shared", "data", "fer2013.csv.gz")
    if args.speed_only:
        pass
    elif os.path.isfile(data_path):
        compare_accuracy(data_path)
    else:
        print(f"accuracy: {data_path} not found, skipped")
    for clip_name in CLIPS:
        compare_speed(clip_name)


if __name__ == "__main__":
    main()
