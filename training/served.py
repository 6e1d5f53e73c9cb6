"""FER-2013 faces cut as the server cuts them, to train and score a model on
the crops it is served.

The server finds a face with BlazeFace and cuts it with `align.crop_aligned`:
rotated upright on the eyes and framed on the landmarks, not FER-2013's own
box. Here each 48x48 face is upscaled, set in a frame (grey for the detector,
which wants context around a face; mirrored edges for the crop, so that a crop
reaching past the face shows face-like surroundings rather than a grey band),
found by the short-range model (the one that follows a webcam face) and cut
the server's way. A face the detector misses stays as it is.

A share of the faces (`plain_share`) can instead be cut from the face set in a
plain surround of one random grey level: the face as a user sends a cropped
face photo, or a face before a plain wall. Where the server's crop reaches past
such a face (a tilted face levelled, a face framed more loosely than FER-2013
framed it), it shows the plain surround, not more face.

    crops, found = served_crops(split.images)
    crops, found = served_crops(split.images, plain_share=0.5, seed=1)
"""
import cv2
import numpy as np

from webapp.vision.align import crop_aligned

UPSCALE = 4
DETECTOR = "blazeface_short"
CROPS = ("fer", "served")  # the choices of --crops in train and evaluate


def detect_in_frame(face, detector, upscale=UPSCALE):
    """(the Detection with landmarks or None, the face upscaled, the frame's width
    on each side): the face upscaled and set in a grey frame half its size."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    pad = big.shape[0] // 2
    framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=128)
    found = detector.detect(framed)
    return (found[0] if found and found[0].keypoints is not None else None), big, pad


def served_crop(face, detector, upscale=UPSCALE, surround=None):
    """One 48x48 face as the server would crop it from a photo of it, or None
    where the detector finds no face with landmarks. Past the face the crop
    shows its mirrored edges, or the grey level `surround` (0-255)."""
    found, big, pad = detect_in_frame(face, detector, upscale)
    if found is None:
        return None
    if surround is None:
        photo = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    else:
        photo = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                   value=int(surround))
    return crop_aligned(photo, found.box, found.keypoints, size=face.shape)


def served_crops(images, detector=None, plain_share=0.0, seed=0):
    """(crops (N, 48, 48) uint8, found (N,) bool): each face cut the server's
    way, or left as it is where no face was found; `plain_share` of them (drawn
    with `seed`) in a plain surround of a random grey level."""
    if detector is None:
        from webapp.vision.detect import make_detector  # the TFLite runtime: only here

        detector = make_detector(DETECTOR)
    rng = np.random.default_rng(seed)
    plain = rng.random(len(images)) < plain_share
    levels = rng.integers(0, 256, len(images))
    crops, found = [], []
    for face, is_plain, level in zip(images, plain, levels):
        crop = served_crop(face, detector, surround=level if is_plain else None)
        crops.append(face if crop is None else crop)
        found.append(crop is not None)
    return np.stack(crops) if crops else images.copy(), np.array(found, bool)


def as_cropped(images, crops):
    """The faces as `--crops` names them: FER-2013's own, or the server's."""
    if crops not in CROPS:
        raise ValueError(f"unknown crops {crops!r}; choose from {CROPS}")
    return images if crops == "fer" else served_crops(images)[0]
