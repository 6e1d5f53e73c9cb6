"""Emotion model figures: file size and single-threaded TFLite time per face,
for one call and for a face as the server classifies it (all its test-time views).

    python bench/model.py [models/emotion.tflite]
"""
import json
import os
import sys
import time

import numpy as np

from common import REPO_ROOT, percentile_ms, pin_to_one_core


def main():
    pin_to_one_core()
    from ai_edge_litert.interpreter import Interpreter

    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO_ROOT, "models", "emotion.tflite")
    with open(os.path.splitext(path)[0] + ".json") as f:
        card = json.load(f)
    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    faces = np.random.default_rng(0).uniform(-1, 1, (500, 1, *card["input_size"], 1))
    faces = faces.astype(np.float32)
    for face in faces[:50]:
        interpreter.set_tensor(input_index, face)
        interpreter.invoke()
    seconds = []
    for face in faces:
        started = time.perf_counter()
        interpreter.set_tensor(input_index, face)
        interpreter.invoke()
        seconds.append(time.perf_counter() - started)
    print(f"{os.path.basename(path)}: {card.get('architecture')}, "
          f"{card.get('parameters', 0):,} parameters, {os.path.getsize(path) / 1e6:.2f} MB")
    print(f"single-threaded TFLite per face: median {percentile_ms(seconds, 50):.3f} ms, "
          f"p95 {percentile_ms(seconds, 95):.3f} ms ({len(seconds)} calls)")

    from webapp.vision.classify import EmotionClassifier

    classifier = EmotionClassifier(path, threads=1)
    crops = np.random.default_rng(1).integers(0, 256, (300, *card["input_size"]), np.uint8)
    for crop in crops[:30]:
        classifier.predict([crop])
    seconds = []
    for crop in crops:
        started = time.perf_counter()
        classifier.predict([crop])
        seconds.append(time.perf_counter() - started)
    views = 2 * len(classifier.tta_zooms or ()) or 1
    print(f"per face as the server classifies it ({views} views averaged): "
          f"median {percentile_ms(seconds, 50):.3f} ms, p95 {percentile_ms(seconds, 95):.3f} ms")


if __name__ == "__main__":
    main()
