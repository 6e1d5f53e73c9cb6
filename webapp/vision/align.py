"""A face crop framed like FER-2013's, rotated upright using the eyes.

The emotion model was trained on FER-2013's 48x48 crops, so a served face
should be cut the same way. With BlazeFace's landmarks the crop is framed
on the face itself: rotated about the face so the eyes are level, centred
on the point FER_CENTRE of the way from the eyes' midpoint to the mouth,
and FER_SIDE times that eyes-to-mouth distance wide. The two numbers were
measured by running BlazeFace on FER-2013 test faces (`bench/framing.py`);
using the eyes-to-mouth distance rather than the box keeps the framing the
same whichever BlazeFace model found the face, and under a turned head.
Without landmarks (the Haar detector) the crop is the box itself, which is
how FER-2013's own faces were cut.

One affine warp does the rotation, the framing and the resize; a large face
is first shrunk (INTER_AREA) so the warp does not alias.
"""
import math

import cv2
import numpy as np

from webapp.vision.preprocess import INPUT_SIZE

# Medians over FER-2013 PublicTest faces (bench/framing.py: 0.252 and 2.571 with
# the short-range model on 397 of 400 faces, 0.264 and 2.661 with the full-range
# one on the 368 of 600 it found).
FER_CENTRE = 0.26  # along eyes -> mouth, in units of that distance
FER_SIDE = 2.6  # crop side, in units of the eyes-to-mouth distance
EYE_LEFT, EYE_RIGHT, MOUTH = 0, 1, 3  # rows of blazeface.KEYPOINTS


def eye_angle(keypoints):
    """Roll of the face in degrees: the angle of the line from the image-left
    eye to the image-right eye (0 when the eyes are level)."""
    (lx, ly), (rx, ry) = keypoints[EYE_LEFT], keypoints[EYE_RIGHT]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def face_frame(box, keypoints=None, align=True, centre=None, side=None):
    """(centre x, centre y, side, angle in degrees) of the crop for one face."""
    if keypoints is None:
        x, y, w, h = box
        return x + w / 2, y + h / 2, max(w, h), 0.0
    eyes = (keypoints[EYE_LEFT] + keypoints[EYE_RIGHT]) / 2
    eyes_to_mouth = keypoints[MOUTH] - eyes
    distance = max(float(np.hypot(*eyes_to_mouth)), 1.0)
    angle = eye_angle(keypoints) if align else 0.0
    # Along the face's own vertical axis: perpendicular to the eye line when aligned.
    theta = math.radians(angle)
    down = np.array([-math.sin(theta), math.cos(theta)])
    centre_xy = eyes + down * distance * (FER_CENTRE if centre is None else centre)
    return (float(centre_xy[0]), float(centre_xy[1]),
            distance * (FER_SIDE if side is None else side), angle)


def crop_aligned(gray_image, box, keypoints=None, size=INPUT_SIZE, align=True):
    """The face as the model sees it: a `size` uint8 crop, or None for a box
    outside the image. `keypoints` (BlazeFace's 6 points) frame and level it."""
    x, y, w, h = box
    img_h, img_w = gray_image.shape[:2]
    if min(x + w, img_w) - max(x, 0) < 2 or min(y + h, img_h) - max(y, 0) < 2:
        return None
    cx, cy, side, angle = face_frame(box, keypoints, align)
    cx, cy = cx - 0.5, cy - 0.5  # pixel i spans [i, i + 1): its centre is at index i
    out_h, out_w = size
    scale = side / out_w  # source pixels per output pixel
    theta = math.radians(angle)
    rotation = scale * np.array([[math.cos(theta), -math.sin(theta)],
                                 [math.sin(theta), math.cos(theta)]])
    out_centre = np.array([(out_w - 1) / 2, (out_h - 1) / 2])
    output_to_source = np.hstack([rotation, (np.array([cx, cy]) - rotation @ out_centre)[:, None]])
    source = gray_image
    shrink = 2.0 / scale  # keep ~2 source pixels per output pixel for the warp
    if shrink < 1.0:
        reach = side * 0.75 + 2  # covers the rotated square
        x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
        x1, y1 = min(img_w, int(cx + reach) + 1), min(img_h, int(cy + reach) + 1)
        region = gray_image[y0:y1, x0:x1]
        small_w, small_h = max(1, round(region.shape[1] * shrink)), max(1, round(region.shape[0] * shrink))
        source = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
        fx, fy = small_w / region.shape[1], small_h / region.shape[0]
        output_to_source = np.diag([fx, fy]) @ (output_to_source - np.array(
            [[0, 0, x0], [0, 0, y0]], float))
    return cv2.warpAffine(source, output_to_source.astype(np.float32), (out_w, out_h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
