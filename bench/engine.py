"""Vision engine figures on one CPU core, per detector: JPEG bytes -> result
per 640x480 frame, faces found on the sample clips, false faces on the no-face
image and on a no-face clip made from it, label steadiness, and the cost of
each step (decode, detect, align + crop, classify).

    python bench/engine.py                              # the default detector
    python bench/engine.py --detectors haar,blazeface,blazeface_short
"""
import argparse
import os
import time

import cv2
import numpy as np

from common import (CLIPS, SAMPLES_DIR, cpu_summary, jpeg, letterbox, percentile_ms,
                    pin_to_one_core, read_clip)


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


def no_face_clip(frames=150):
    """The no-face photo, slowly panned and zoomed, with camera noise: 640x480 frames."""
    photo = cv2.imread(os.path.join(SAMPLES_DIR, "noface_coffee.png"))
    if photo is None:
        return None
    rng = np.random.default_rng(0)
    clip = []
    for index in range(frames):
        zoom = 1.0 + 0.3 * index / frames
        h, w = photo.shape[:2]
        cw, ch = int(w / zoom), int(h / zoom)
        x0 = int((w - cw) * index / frames)
        view = cv2.resize(photo[(h - ch) // 2:(h - ch) // 2 + ch, x0:x0 + cw], (640, 480))
        noise = rng.normal(0, 4, view.shape)
        clip.append(np.clip(view + noise, 0, 255).astype(np.uint8))
    return clip


def run_stream(engine, encoded, fps):
    session = engine.session()
    for data in encoded[:10]:  # warm-up: first interpreter and detector use
        engine.session().process_bytes(data, 0.0)
    seconds, results = [], []
    for index, data in enumerate(encoded):
        started = time.perf_counter()
        results.append(session.process_bytes(data, timestamp=index / fps))
        seconds.append(time.perf_counter() - started)
    return seconds, results


def bench_clip(engine, name, frames, fps):
    encoded = [jpeg(frame) for frame in frames]
    seconds, results = run_stream(engine, encoded, fps)
    with_face = sum(1 for r in results if r["faces"])
    faces = sum(len(r["faces"]) for r in results)
    ids = {face["id"] for r in results for face in r["faces"]}
    changes, pairs = label_changes(results)
    labels = [r["faces"][0]["emotion"] for r in results if r["faces"]]
    common = max(set(labels), key=labels.count) if labels else "-"
    print(f"  {name}: {len(frames)} frames 640x480 at {fps:.0f} fps")
    print(f"    per frame (JPEG decode -> result): median {percentile_ms(seconds, 50):.2f} ms, "
          f"p95 {percentile_ms(seconds, 95):.2f} ms, mean {np.mean(seconds) * 1000:.2f} ms")
    print(f"    frames with a face: {with_face}/{len(frames)} "
          f"({100 * with_face / len(frames):.1f}%); faces in all: {faces}; ids: {sorted(ids)}")
    if pairs:
        print(f"    label changes: {changes} in {pairs} consecutive tracked pairs "
              f"({100 * changes / pairs:.1f}%); most frequent label: {common}")


def step_costs(engine, frames, repeats=1):
    """Median ms of each step over the frames, run one after the other."""
    from webapp.vision.pipeline import to_gray

    detector = engine.detector()
    timings = {"decode": [], "detect (full scan)": [], "detect (near a known face)": [],
               "align + crop": [], "classify 1 view": [], "classify 4 views": []}
    for frame in frames:
        data = jpeg(frame)
        for _ in range(repeats):
            started = time.perf_counter()
            gray = to_gray(engine.decode(data))
            timings["decode"].append(time.perf_counter() - started)
            started = time.perf_counter()
            found = detector.detect(gray)
            timings["detect (full scan)"].append(time.perf_counter() - started)
            if not found:
                continue
            started = time.perf_counter()
            detector.detect_near(gray, found[0].box)
            timings["detect (near a known face)"].append(time.perf_counter() - started)
            started = time.perf_counter()
            crop = engine.crop(gray, found[0])
            timings["align + crop"].append(time.perf_counter() - started)
            for views in (1, 4):
                started = time.perf_counter()
                engine.classifier.predict([crop], views)
                timings[f"classify {views} view{'s' if views > 1 else ''}"].append(
                    time.perf_counter() - started)
    print("    cost by step (median ms): " + ", ".join(
        f"{step} {percentile_ms(values, 50):.2f}" for step, values in timings.items() if values))


def bench_detector(name, clips, still_no_face, moving_no_face):
    from webapp.vision.pipeline import Engine

    engine = Engine(detector=name)
    print(f"detector {name}:")
    for clip_name, (frames, fps) in clips.items():
        bench_clip(engine, clip_name, frames, fps)
    if moving_no_face is not None:
        bench_clip(engine, "no-face clip (noface_coffee.png panned, zoomed, noisy)",
                   moving_no_face, 30.0)
    if still_no_face is not None:
        print(f"  noface_coffee.png: {len(engine.analyze(still_no_face)['faces'])} faces")
    first_clip = next(iter(clips.values()), (None, None))[0]
    if first_clip:
        step_costs(engine, first_clip[::5])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default=None,
                        help="comma-separated: haar, blazeface, blazeface_short")
    args = parser.parse_args()
    pin_to_one_core()
    from webapp.vision.detect import DEFAULT_DETECTOR

    print(cpu_summary())
    print("one core; engine as served: test-time views by load (all 4 here), "
          "classification on its schedule")
    clips = {}
    for name in CLIPS:
        frames, fps = read_clip(name)
        if frames is None:
            print(f"{name}: not found in {SAMPLES_DIR}, skipped")
        else:
            clips[name] = (frames, fps)
    photo = cv2.imread(os.path.join(SAMPLES_DIR, "noface_coffee.png"))
    still = letterbox(photo) if photo is not None else None
    moving = no_face_clip()
    for name in (args.detectors or DEFAULT_DETECTOR).split(","):
        bench_detector(name.strip(), clips, still, moving)


if __name__ == "__main__":
    main()
