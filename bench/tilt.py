"""What aligning the crop on the eyes does to accuracy on tilted faces.

FER-2013 PrivateTest faces are upscaled 4x, set in a grey frame twice their
size and rotated by each angle; BlazeFace finds each face and its landmarks,
and the model classifies the crop cut as the server cuts it, once rotated
upright on the eyes (aligned) and once not. The sample photos with a known
expression (CK+) are rotated the same way.

    python bench/tilt.py [--limit 1000] [--angles -30,-15,0,15,30]
"""
import argparse
import glob
import os

import cv2
import numpy as np

from common import SAMPLES_DIR, cpu_summary, fer2013_path, pin_to_one_core


def tilt(image, angle, border=cv2.BORDER_CONSTANT):
    height, width = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(image, rotation, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=128)


def framed(face, upscale=4):
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    pad = big.shape[0] // 2
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=128)


def classify_tilted(engine, detector, images, angle):
    """(indices of faces found, predictions aligned, predictions not aligned)."""
    from webapp.vision.align import crop_aligned

    found, aligned, plain = [], [], []
    for index, image in enumerate(images):
        rotated = tilt(image, angle)
        detections = detector.detect(rotated)
        if not detections:
            continue
        face = detections[0]
        found.append(index)
        aligned.append(crop_aligned(rotated, face.box, face.keypoints))
        plain.append(crop_aligned(rotated, face.box, face.keypoints, align=False))
    predict = engine.classifier.predict
    return (np.array(found, int), predict(aligned).argmax(1) if aligned else np.array([]),
            predict(plain).argmax(1) if plain else np.array([]))


def fer_figures(engine, detector, limit, angles):
    from training.data import read_fer2013

    images, labels, usages, _ = read_fer2013(fer2013_path())
    faces, labels = images[usages == "PrivateTest"][:limit], labels[usages == "PrivateTest"][:limit]
    native = (engine.classifier.predict(list(faces)).argmax(1) == labels).mean()
    print(f"FER-2013 PrivateTest, first {len(faces)} faces; the 48x48 crops as they are: "
          f"accuracy {native:.4f}")
    frames = [framed(face) for face in faces]
    for angle in angles:
        found, aligned, plain = classify_tilted(engine, detector, frames, angle)
        truth = labels[found]
        print(f"  rotated {angle:+4d} deg: found {len(found)}/{len(faces)}; accuracy on those: "
              f"aligned {(aligned == truth).mean():.4f}, not aligned {(plain == truth).mean():.4f}")


def photo_figures(engine, detector, angles):
    photos = sorted(glob.glob(os.path.join(SAMPLES_DIR, "face_ckplus_*.png")))
    if not photos:
        print("sample photos not found, skipped")
        return
    print("CK+ sample photos (label from the file name): predicted aligned / not aligned")
    for path in photos:
        expected = os.path.basename(path).split("_")[2]
        gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        row = []
        for angle in angles:
            found, aligned, plain = classify_tilted(engine, detector, [gray], angle)
            labels = engine.labels
            row.append(f"{angle:+d}: " + (f"{labels[aligned[0]]}/{labels[plain[0]]}"
                                          if len(found) else "not found"))
        print(f"  {expected:9s} " + "  ".join(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--angles", default="-30,-15,0,15,30")
    parser.add_argument("--detector", default="blazeface_short",
                        help="blazeface_short finds ~99%% of the framed FER faces, "
                             "blazeface (full-range) ~60%%")
    args = parser.parse_args()
    pin_to_one_core()
    from webapp.vision.detect import make_detector
    from webapp.vision.pipeline import Engine

    angles = [int(a) for a in args.angles.split(",")]
    engine, detector = Engine(views=4), make_detector(args.detector)
    print(cpu_summary())
    print(f"detector {args.detector}; each face classified as 4 views, as the server does")
    fer_figures(engine, detector, args.limit, angles)
    photo_figures(engine, make_detector("blazeface"), angles)


if __name__ == "__main__":
    main()
