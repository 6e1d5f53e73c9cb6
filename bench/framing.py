"""Where a FER-2013 face sits relative to BlazeFace's landmarks: the numbers
behind webapp/vision/align.py's FER_CENTRE and FER_SIDE.

Each PublicTest face is upscaled 4x and set in a grey frame twice its size
(BlazeFace wants some context around a face), BlazeFace is run on it, and the
FER crop (the whole 48x48 image) is expressed in units of the eyes-to-mouth
distance: its centre along the eyes -> mouth axis, and its side.

    python bench/framing.py [--limit 1000]
"""
import argparse

import numpy as np

from common import cpu_summary, fer2013_path


def measure(images, detector, upscale=4):
    """(centre along eyes->mouth, side) per face found, in eyes-to-mouth units."""
    from training.served import detect_in_frame
    from webapp.vision.align import EYE_LEFT, EYE_RIGHT, MOUTH

    centres, sides, found = [], [], 0
    for face in images:
        detection, _, pad = detect_in_frame(face, detector, upscale)
        if detection is None:
            continue
        found += 1
        points = (detection.keypoints - pad) / upscale  # FER-2013 pixels
        eyes = (points[EYE_LEFT] + points[EYE_RIGHT]) / 2
        down = points[MOUTH] - eyes
        distance = np.hypot(*down)
        crop_centre = np.array([24.0, 24.0])
        centres.append(float((crop_centre - eyes) @ down / distance ** 2))
        sides.append(48.0 / distance)
    return np.array(centres), np.array(sides), found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="faces of PublicTest to use")
    parser.add_argument("--detector", default="blazeface_short",
                        help="blazeface_short finds nearly every FER face; blazeface (full-range) fewer")
    args = parser.parse_args()
    from training.data import read_fer2013
    from webapp.vision.detect import make_detector

    images, _, usages, _ = read_fer2013(fer2013_path())
    faces = images[usages == "PublicTest"][:args.limit]
    detector = make_detector(args.detector)
    centres, sides, found = measure(faces, detector)
    print(cpu_summary())
    print(f"{args.detector}: landmarks on {found}/{len(faces)} PublicTest faces")
    for name, values in (("FER_CENTRE", centres), ("FER_SIDE", sides)):
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        print(f"  {name}: median {median:.3f} (quartiles {q1:.3f}-{q3:.3f})")


if __name__ == "__main__":
    main()
