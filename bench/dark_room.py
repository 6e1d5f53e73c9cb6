"""A smile in a nearly dark room: does each model read a frame as it does in light?

    python bench/dark_room.py models/emotion.tflite [OTHER.tflite ...] [--light 0.06]

The smile clip (a face at rest that smiles and grins in turn) is darkened to
`--light` of its light (`testkit.clips.darkened`, as `tests/test_real_light.py` does),
and every frame of both versions goes through `Engine.analyze` (every view, no
smoothing). For each model: frames whose largest face gets the same leading
emotion in the dark as in light, and, for the happy/neutral pairs that make
most of the clip, which way the dark frames err. Beside it, the same count over
the frames whose lit reading the product gives (not withheld as "uncertain"), so
that an ambiguous lit face read differently does not decide a comparison. A member
choice must not lower the first figure: the test suite asserts it through the real
server.
"""
import argparse
import collections
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CLIPS, SAMPLES_DIR, cpu_summary, largest_face, read_clip  # noqa: E402

from testkit.clips import DARK_ROOM, darkened  # noqa: E402
from webapp.vision.pipeline import Engine  # noqa: E402

SMILE = CLIPS[1]


def reading(engine, frame):
    """(leading emotion, withheld?) of the largest face; None where none is found."""
    face = largest_face(engine.analyze(frame)["faces"])
    if face is None:
        return None
    return max(face["scores"], key=face["scores"].get), bool(face.get("uncertain"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--light", type=float, default=DARK_ROOM)
    args = parser.parse_args()
    print(cpu_summary())
    lit_frames, _ = read_clip(SMILE, width=None)
    if lit_frames is None:
        sys.exit(f"{SMILE} is not in {SAMPLES_DIR}")
    with tempfile.TemporaryDirectory() as folder:
        dark = darkened(os.path.join(SAMPLES_DIR, SMILE), os.path.join(folder, "dark.mp4"),
                        args.light)
        dark_frames, _ = read_clip(dark, width=None)
    print(f"{SMILE}: {len(lit_frames)} frames, in light and at {args.light:.0%} of it")
    for model in args.models:
        engine = Engine(model)
        readings = [(reading(engine, lit), reading(engine, dark))
                    for lit, dark in zip(lit_frames, dark_frames)]
        readings = [pair for pair in readings if None not in pair]
        pairs = [(lit[0], dark[0]) for lit, dark in readings]
        agreed = sum(lit == dark for lit, dark in pairs)
        given = [(lit[0], dark[0]) for lit, dark in readings if not lit[1]]
        agreed_given = sum(lit == dark for lit, dark in given)
        counts = collections.Counter(pairs)
        print(f"{model}: the same emotion in {agreed}/{len(pairs)} frames "
              f"({agreed / max(1, len(pairs)):.0%}); over the frames whose lit reading is "
              f"given (not uncertain) {agreed_given}/{len(given)}; lit neutral read happy in "
              f"the dark {counts[('neutral', 'happy')]}, lit happy read neutral "
              f"{counts[('happy', 'neutral')]}")


if __name__ == "__main__":
    main()
