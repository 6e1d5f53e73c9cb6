"""What the shot-change measure reads within shots, across cuts, under a panning
camera and a change of light (webapp/vision/shots.py sets its limit from these).

    python bench/shots.py
"""
import os
import tempfile

import cv2
import numpy as np

from common import SAMPLES_DIR, cpu_summary
from testkit import clips  # noqa: E402  (importable once common has set the path)
from webapp.vision.shots import CUT_DIFFERENCE, ShotChanges  # noqa: E402


def grey_frames(name, size=(640, 480)):
    path = name if os.path.isabs(name) else f"{SAMPLES_DIR}/{name}"
    capture, frames = cv2.VideoCapture(path), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frame = cv2.resize(frame, size) if size else frame
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))


def differences(frames):
    shots = ShotChanges()
    return [d for d in (shots.difference(frame) for frame in frames) if d is not None]


def main():
    print(cpu_summary())
    talking = grey_frames("clip_talking_head_tps_driving.mp4")
    smiling = grey_frames("clip_smile_liveportrait_d19.mp4")
    joined = differences(talking + smiling + talking[:50])
    cuts = (len(talking) - 1, len(talking) + len(smiling) - 1)
    within = [d for i, d in enumerate(joined) if i not in cuts]
    print(f"the two sample clips joined (A, B, A): within shots at most {max(within):.3f} "
          f"({len(within)} frame pairs); at the cuts {', '.join(f'{joined[i]:.3f}' for i in cuts)}")
    with tempfile.TemporaryDirectory() as folder:
        letterboxed = clips.joined([f"{SAMPLES_DIR}/clip_talking_head_tps_driving.mp4",
                                    f"{SAMPLES_DIR}/clip_smile_liveportrait_d19.mp4"] * 2,
                                   os.path.join(folder, "cuts.mp4"))
        boxed = differences(grey_frames(letterboxed, None))
    print(f"the same letterboxed, 2 s each (A, B, A, B): at the cuts "
          f"{', '.join(f'{boxed[i]:.3f}' for i in (49, 99, 149))}; within shots at most "
          f"{max(d for i, d in enumerate(boxed) if i not in (49, 99, 149)):.3f}")
    photo = cv2.cvtColor(cv2.resize(cv2.imread(f"{SAMPLES_DIR}/faces_group_selfie.jpg"),
                                    (1280, 960)), cv2.COLOR_BGR2GRAY)
    for step in (16, 32, 64):
        pan = [photo[100:580, 100 + k * step:740 + k * step] for k in range(6)]
        print(f"a camera panning {step} px a frame (of 640): at most {max(differences(pan)):.3f}")
    view = photo[100:580, 100:740]
    print(f"the light falling to 60%: {differences([view, (view * 0.6).astype(np.uint8)])[0]:.3f}")
    print(f"a cut between two shots of the group photo: "
          f"{differences([view, photo[300:780, 600:1240]])[0]:.3f}")
    print(f"limit: a cut above {CUT_DIFFERENCE}")


if __name__ == "__main__":
    main()
