"""How the live label follows a face: how long after the model's reading of a
face changes the drawn label turns, how often it flips, and for how much of
the time it names another emotion than the panel's leading one.

Each sample clip is played through a live session (`Engine.session`, idle
server: every view) at its own frame rate. The reference is the model's
reading of every frame with every view and no smoothing: its leading
emotion, kept where it leads for at least `--hold` seconds. For each change
of that reference, the lag is the stream time until the drawn label shows the
new emotion (a change the label never shows before the next one counts as
missed); a flip is any change of what is drawn, "uncertain" included.
Several hysteresis settings are compared on the same frames.

    python bench/label_lag.py models/emotion.tflite [OTHER.tflite ...] \
        [--settings 0.08:0,0.08:0.5] [--views 1 --every 3]
"""
import argparse
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CLIPS, cpu_summary, largest_face, read_clip  # noqa: E402

from webapp.vision.pipeline import Engine  # noqa: E402


def reference_labels(engine, frames, fps, hold):
    """The leading emotion of each frame (every view, no smoothing) of its
    largest face, -1 where none; runs shorter than `hold` seconds are merged
    into the run before them."""
    raw = []
    for frame in frames:
        face = largest_face(engine.analyze(frame)["faces"])
        if face is None:
            raw.append(-1)
            continue
        raw.append(int(np.argmax([face["scores"][label] for label in engine.labels])))
    steady, current = [], -1
    run_start = 0
    for index, label in enumerate(raw):
        if index == 0 or label != raw[index - 1]:
            run_start = index
        run_end = run_start
        while run_end < len(raw) and raw[run_end] == label:
            run_end += 1
        if (run_end - run_start) / fps >= hold or current == -1:
            current = label
        steady.append(current)
    return steady


def shown_labels(engine, frames, fps, margin, hold, views=None):
    """The drawn label (-2: uncertain) and the panel's leader of each frame's
    largest face."""
    session = engine.session(switch_margin=margin, verdict_tau=hold, views=views)
    drawn, leading = [], []
    for index, frame in enumerate(frames):
        face = largest_face(session.process(frame, index / fps)["faces"])
        if face is None:
            drawn.append(-1)
            leading.append(-1)
            continue
        scores = [face["scores"][label] for label in engine.labels]
        drawn.append(engine.labels.index(face["emotion"]) if face["emotion"] in engine.labels
                     else -2)  # uncertain
        leading.append(int(np.argmax(scores)))
    return drawn, leading


def lags(reference, drawn, fps):
    """Seconds from each change of the reference until the drawn label shows
    it, and how many changes it never showed before the next."""
    changes = [i for i in range(1, len(reference)) if reference[i] != reference[i - 1]
               and reference[i] != -1]
    found, missed = [], 0
    for k, start in enumerate(changes):
        end = changes[k + 1] if k + 1 < len(changes) else len(reference)
        shown = [i for i in range(start, end) if drawn[i] == reference[start]]
        if shown:
            found.append((shown[0] - start) / fps)
        else:
            missed += 1
    return found, missed


def setting(text):
    margin, hold = text.split(":")
    return float(margin), float(hold)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--settings", default="0.08:0,0.08:0.5,0.04:0.5,0:0.5",
                        help="comma-separated switch_margin:verdict_tau pairs (the label's "
                             "and the uncertain verdict's hysteresis; see webapp/vision/track.py)")
    parser.add_argument("--hold", type=float, default=0.5)
    parser.add_argument("--views", type=int, help="views a classification (default: all, an "
                                                  "idle server; 1: a busy one)")
    parser.add_argument("--every", type=int, default=1,
                        help="send every Nth frame (a client sending fewer frames)")
    args = parser.parse_args()
    print(cpu_summary())
    print(f"views a classification: {args.views or 'all'}; every {args.every} frame(s)")
    settings = [setting(s) for s in args.settings.split(",")]
    print("model | clip | margin | verdict tau s | changes | median lag s | worst s | missed | "
          "flips/min | uncertain | drawn != leader")
    for model in args.models:
        engine = Engine(model)
        for clip in CLIPS:
            frames, fps = read_clip(clip, width=None)
            frames, fps = frames[::args.every], fps / args.every
            reference = reference_labels(engine, frames, fps, args.hold)
            for margin, hold in settings:
                drawn, leading = shown_labels(engine, frames, fps, margin, hold, args.views)
                found, missed = lags(reference, drawn, fps)
                flips = sum(1 for i in range(1, len(drawn)) if drawn[i] != drawn[i - 1])
                mismatch = np.mean([d != l for d, l in zip(drawn, leading) if min(d, l) >= 0])
                print(f"{os.path.basename(os.path.dirname(model)) or '.'}/"
                      f"{os.path.basename(model)} | {clip[5:15]} | {margin} | {hold} | "
                      f"{len(found) + missed} | "
                      f"{np.median(found) if found else float('nan'):.2f} | "
                      f"{max(found) if found else float('nan'):.2f} | {missed} | "
                      f"{flips / (len(frames) / fps / 60):.1f} | "
                      f"{np.mean([d == -2 for d in drawn]):.0%} | {mismatch:.1%}", flush=True)


if __name__ == "__main__":
    main()
