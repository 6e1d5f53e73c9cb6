"""Vision engine figures on one CPU core: JPEG bytes -> result per 640x480 frame,
face-found rate on the sample clips, label steadiness, and the no-face image.

    python bench/engine.py
"""
import os
import time

import cv2
import numpy as np

from common import CLIPS, SAMPLES_DIR, jpeg, percentile_ms, pin_to_one_core, read_clip


def label_changes(results):
    """How often the shown label of a face id changes from one frame to the next."""
    last_label, changes, pairs = {}, 0, 0
    for result in results:
        for face in result["faces"]:
            previous = last_label.get(face["id"])
            if previous is not None:
                pairs += 1
                changes += previous != face["emotion"]
            last_label[face["id"]] = face["emotion"]
    return changes, pairs


def bench_clip(engine, name):
    frames, fps = read_clip(name)
    if frames is None:
        print(f"{name}: not found in {SAMPLES_DIR}, skipped")
        return
    encoded = [jpeg(frame) for frame in frames]
    session = engine.session()
    for data in encoded[:10]:  # warm-up: first interpreter and cascade use
        engine.session().process_bytes(data, 0.0)
    seconds, results = [], []
    for index, data in enumerate(encoded):
        started = time.perf_counter()
        results.append(session.process_bytes(data, timestamp=index / fps))
        seconds.append(time.perf_counter() - started)
    with_face = sum(1 for r in results if r["faces"])
    ids = {face["id"] for r in results for face in r["faces"]}
    changes, pairs = label_changes(results)
    labels = [r["faces"][0]["emotion"] for r in results if r["faces"]]
    common = max(set(labels), key=labels.count) if labels else "-"
    print(f"{name}: {len(frames)} frames 640x480 at {fps:.0f} fps")
    print(f"  per frame (JPEG decode -> result): median {percentile_ms(seconds, 50):.2f} ms, "
          f"p95 {percentile_ms(seconds, 95):.2f} ms, mean {np.mean(seconds) * 1000:.2f} ms")
    print(f"  face found in {with_face}/{len(frames)} frames ({100 * with_face / len(frames):.1f}%);"
          f" face ids seen: {sorted(ids)}")
    print(f"  label changes: {changes} in {pairs} consecutive tracked pairs "
          f"({100 * changes / max(pairs, 1):.1f}%); most frequent label: {common}")


def main():
    pin_to_one_core()
    from webapp.vision.pipeline import Engine

    engine = Engine()
    print(f"engine: Haar + {engine.classifier.card.get('architecture')} TFLite, one core")
    for name in CLIPS:
        bench_clip(engine, name)
    no_face = os.path.join(SAMPLES_DIR, "noface_coffee.png")
    if os.path.isfile(no_face):
        faces = engine.analyze(cv2.imread(no_face))["faces"]
        print(f"noface_coffee.png: {len(faces)} faces")


if __name__ == "__main__":
    main()
