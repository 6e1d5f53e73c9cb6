"""People over time: how well tracks are joined into persons, on a clip whose
truth is known (testkit.clips.people_clip: four people, cuts and returns, two
side by side), and what it costs.

    python bench/people.py

Prints, for the tracks alone and for the persons (people.People, video mode
and live mode): ids per true person and wrong merges (an id given to more than
one true person), and the descriptors computed with their cost (one core).
"""
import collections
import tempfile
import time

import numpy as np

from common import SAMPLES_DIR, cpu_summary, pin_to_one_core
from testkit import clips, videocheck  # noqa: E402  (importable once common has set the path)
from webapp.vision.pipeline import Engine  # noqa: E402


def scores(rows, key):
    """(ids per true person, wrong merges) of the rows' ids under `key`."""
    ids_of, people_of = collections.defaultdict(set), collections.defaultdict(set)
    for row in rows:
        if row["truth"]:
            ids_of[row["truth"]].add(row[key])
            people_of[row[key]].add(row["truth"])
    per_person = {person: len(ids) for person, ids in sorted(ids_of.items())}
    wrong = sum(1 for people in people_of.values() if len(people) > 1)
    return per_person, wrong


def run(engine, path, truth, mode):
    session = engine.session(min_hits=2, people=mode)
    rows, fps = [], 25
    for index, frame in enumerate(videocheck.decoded_frames(path)):
        seconds = index / fps
        for face in session.process(frame, timestamp=seconds)["faces"]:
            rows.append({"track": face["id"], "person": face["person_id"],
                         "truth": clips.true_person(truth, seconds, face["box"], frame.shape[1])})
    if mode == "video":
        final = session.people.final()
        for row in rows:
            row["person"] = final[row["track"]]
    return rows, session.people


def main():
    print(cpu_summary())
    pin_to_one_core()
    engine = Engine()
    with tempfile.TemporaryDirectory() as folder:
        path, truth = clips.people_clip(SAMPLES_DIR, folder)
        print(f"clip: {len(truth)} shots of 2 s, true people: "
              f"{sorted({p for _, _, who in truth for p in who.values()})}")
        for mode in ("video", "live"):
            started = time.perf_counter()
            rows, people = run(engine, path, truth, mode)
            took = time.perf_counter() - started
            if mode == "video":
                per, wrong = scores(rows, "track")
                print(f"tracks:          ids per true person {per}, wrong merges {wrong}")
            per, wrong = scores(rows, "person")
            print(f"persons ({mode:>5}): ids per true person {per}, wrong merges {wrong}; "
                  f"{people.descriptors} descriptors, {took:.1f} s for the clip")
    for name in ("clip_talking_head_tps_driving.mp4", "clip_smile_liveportrait_d19.mp4"):
        session = engine.session(min_hits=2, people="video")
        for index, frame in enumerate(videocheck.decoded_frames(f"{SAMPLES_DIR}/{name}")):
            session.process(frame, timestamp=index / 25)
        final = session.people.final()
        print(f"{name}: {len(final)} tracks, {len(set(final.values()))} persons")
    describer = engine.describer
    frame = next(videocheck.decoded_frames(f"{SAMPLES_DIR}/clip_talking_head_tps_driving.mp4"))
    box = engine.analyze(frame)["faces"][0]["box"]
    times = []
    for _ in range(20):
        started = time.perf_counter()
        describer.describe(frame, box)
        times.append(time.perf_counter() - started)
    print(f"one descriptor: median {np.median(times) * 1e3:.1f} ms (one core)")


if __name__ == "__main__":
    main()
