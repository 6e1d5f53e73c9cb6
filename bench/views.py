"""Test-time views a classification in a stream: what a steady face is shown, and the cost.

    python bench/views.py [--data fer2013.csv.gz] [--split PublicTest]

A stream session classifies each face every `classify_interval` seconds and
smooths the answers (webapp.vision.track). With fewer views than all, each
classification takes the next views in the cycle (classifier.predict's
`first_views`), so the smoothed emotion of a steady face draws on all of them.

1. Accuracy on FER-2013 faces (FER-2013's crops, and the same faces cut as the
   server cuts them), each held still in front of the stream: the label the
   tracker shows after 1, 2, 4 and 8 classifications, for 1, 2 and 4 views a
   classification, against one classification's label.
2. Cost of one classification of one face, single-threaded, for each count.
3. Both sample clips through stream sessions with 4 views and with 1 view a
   classification, interleaved frame by frame: time a frame and how often the
   shown labels agree.
"""
import argparse
import time

import numpy as np

from common import CLIPS, clip_jpegs, cpu_summary, fer2013_path, percentile_ms, pin_to_one_core
from webapp.vision.classify import EmotionClassifier
from webapp.vision.track import Tracker

VIEW_COUNTS = (1, 2, 4)
SHOWN_AFTER = (1, 2, 4, 8)


def per_view(classifier, images, batch=256):
    """(max_views, N, classes): each view of each face alone."""
    return np.stack([
        np.concatenate([classifier.predict(list(images[i:i + batch]), views=1,
                                           first_views=[view] * len(images[i:i + batch]))
                        for i in range(0, len(images), batch)])
        for view in range(classifier.max_views)])


def shown_labels(answers, views, classifications):
    """The label a default Tracker shows for each still face after each of
    `classifications` classifications of `views` views, rotated as a stream does:
    (classifications, N)."""
    total, count = answers.shape[0], answers.shape[1]
    trackers = [Tracker() for _ in range(count)]
    box = [0.0, 0.0, 100.0, 100.0]
    shown = []
    for step in range(classifications):
        chosen = [(step * views + j) % total for j in range(views)]
        probabilities = answers[chosen].mean(axis=0)
        timestamp = step * trackers[0].classify_interval
        shown.append([tracker.update([box], [p], timestamp)[0].label_index
                      for tracker, p in zip(trackers, probabilities)])
    return np.array(shown)


def accuracy_table(classifier, split_name, data_path):
    from training import data, served

    split = data.load_splits(data_path)[split_name]
    crops = {"FER-2013's crops": split.images,
             "served crops": served.served_crops(split.images)[0]}
    answers = {name: per_view(classifier, images) for name, images in crops.items()}
    header = " | ".join(f"{name}, after {n}" for name in crops for n in SHOWN_AFTER)
    print(f"\nFER-2013 {split_name}, {len(split)} faces held still; the label shown after "
          f"n classifications (every {Tracker().classify_interval} s, default smoothing):")
    print(f"| views a classification | {header} |")
    print("| ---: |" + " ---: |" * (len(crops) * len(SHOWN_AFTER)))
    for views in VIEW_COUNTS:
        cells = []
        for name in crops:
            shown = shown_labels(answers[name], views, max(SHOWN_AFTER))
            cells += [f"{(shown[n - 1] == split.labels).mean() * 100:.2f}%" for n in SHOWN_AFTER]
        print(f"| {views} | " + " | ".join(cells) + " |")


def cost_table(model_path, rounds=500):
    """ms for one classification of one face, the counts timed in turn; each count
    has its own interpreter, so that none is resized between calls."""
    classifiers = {views: EmotionClassifier(model_path) for views in VIEW_COUNTS}
    crop = np.random.default_rng(0).integers(0, 255, classifiers[1].input_size, dtype=np.uint8)
    timings = {views: [] for views in VIEW_COUNTS}
    for step in range(20 + rounds):
        for views, classifier in classifiers.items():
            started = time.perf_counter()
            classifier.predict([crop], views=views, first_views=[step])
            timings[views].append(time.perf_counter() - started)
    timings = {views: seconds[20:] for views, seconds in timings.items()}
    full = np.median(timings[max(VIEW_COUNTS)])
    print("\nOne classification of one face, one thread:")
    for views in VIEW_COUNTS:
        print(f"  {views} view(s): median {percentile_ms(timings[views], 50):.3f} ms, "
              f"{np.median(timings[views]) / full:.2f} of {max(VIEW_COUNTS)} views")


def compare_on_clip(clip_name):
    from webapp.vision.pipeline import Engine

    encoded, fps = clip_jpegs(clip_name)
    if encoded is None:
        print(f"\n{clip_name}: not found, skipped")
        return
    engine = Engine()
    sessions = {views: engine.session(views=views) for views in (4, 1)}
    timings = {views: [] for views in sessions}
    labels = {views: [] for views in sessions}
    for index, data in enumerate(encoded):
        for views, session in sessions.items():
            started = time.perf_counter()
            faces = session.process_bytes(data, timestamp=index / fps)["faces"]
            timings[views].append(time.perf_counter() - started)
            labels[views].append(faces[0]["emotion"] if faces else None)
    both = [(a, b) for a, b in zip(labels[4], labels[1]) if a and b]
    agree = sum(a == b for a, b in both)
    print(f"\n{clip_name}: {len(encoded)} frames 640x480, one core, JPEG bytes -> emotions")
    for views in sessions:
        print(f"  {views} view(s) a classification: median "
              f"{percentile_ms(timings[views], 50):.2f} ms, "
              f"mean {np.mean(timings[views]) * 1000:.2f} ms a frame")
    print(f"  shown labels agree in {agree}/{len(both)} frames with a face in both")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=fer2013_path(), help="FER-2013 CSV")
    parser.add_argument("--split", default="PublicTest")
    args = parser.parse_args()
    pin_to_one_core()
    print(cpu_summary())
    classifier = EmotionClassifier()
    print(f"model: {classifier.model_path}, {classifier.max_views} views")
    cost_table(classifier.model_path)
    accuracy_table(classifier, args.split, args.data)
    for clip_name in CLIPS:
        compare_on_clip(clip_name)


if __name__ == "__main__":
    main()
