"""How far to trust a face's label: its head pose, the quality of its crop (with
the reasons), whether it looks at the camera, and when to answer "uncertain".

    pose = head_pose(keypoints)                 # {"yaw", "pitch", "roll"} in degrees
    quality = assess(crop_measures(crop), box, keypoints, frame_size, pose)
                                                # {"score", "reasons"}
    trust(probabilities, quality)               # None, or why the label is withheld

Pose comes from BlazeFace's six keypoints (no extra model): roll is the angle of
the eye line; yaw the nose tip's offset from the midpoint of the ears, pitch its
offset along the eyes-to-mouth line from where it sits on a frontal face, each
turned into an angle with a head's proportions (the nose tip stands about 1.5
half-ear-widths in front of the ears, and about 0.43 eyes-to-mouth distances in
front of the eyes and mouth). Signs: yaw > 0 when the nose points to the image's
right, pitch > 0 when the face looks down, roll > 0 when the image-right eye is
lower. The checks and every limit below are measured: see models/README.md,
"How far to trust a label" (bench/trust.py prints the tables).
"""
import math

import cv2
import numpy as np

from webapp.vision.preprocess import normalize_light

EYE_LEFT, EYE_RIGHT, NOSE, MOUTH, EAR_LEFT, EAR_RIGHT = range(6)  # blazeface.KEYPOINTS
NOSE_DEPTH_EARS = 1.5  # nose tip in front of the ears, in half ear-to-ear widths
NOSE_DEPTH_FACE = 0.43  # nose tip in front of the eyes and mouth, in eyes-to-mouth lengths
NOSE_ALONG_FRONTAL = 0.53  # nose tip along eyes -> mouth, frontal (median of 794 FER-2013 faces)

# A face is held back ("uncertain") beyond any of these: each is where accuracy on
# FER-2013 PrivateTest faces so degraded falls 10 points below the clean figure, or
# where the table ends (bench/trust.py --parts limits; the tables are in models/README.md).
# The shipped model equalises each crop's histogram, so darkness and flat contrast
# cost it little until a crop holds only a few grey levels.
LIMITS = {
    "min_eye_distance": 6.5,   # pixels between the eyes in the frame (62% at 6.8, 56% at 5.4)
    "max_yaw": 40.0,           # degrees either way (74% frontal, 60% past 40)
    "max_pitch": 40.0,         # no fall measured up to 45 degrees (few faces past 30)
    "min_luminance": 3.0,      # mean grey level of the crop, 0..255 (63% at 2.8: 8 points)
    "min_contrast": 1.5,       # standard deviation of its grey levels (64% at 1.4: 7 points)
    "min_sharpness": 175.0,    # variance of the Laplacian of the equalised 48x48 crop
    "max_outside": 0.25,       # share of the face box outside the frame
}
# A looking-at-the-camera face: its head turned less than this either way. FER-2013's
# faces mostly look at the camera: 90% of 396 PrivateTest faces lie within |yaw| 29
# and pitch -14..18 degrees (bench/trust.py), keypoint noise included.
ATTENTION = {"max_yaw": 30.0, "max_pitch": 25.0}
# A label is withheld as ambiguous when its (smoothed) top probability is under
# MIN_CONFIDENCE + CAUTION * (1 - quality score): the poorer the picture, the surer
# the answer must be (chosen by selective prediction on PublicTest, clean and with
# the conditions mixed: bench/trust.py --parts choose; reported on PrivateTest).
MIN_CONFIDENCE = 0.42
CAUTION = 1.0

REASONS = {"small": "too small", "turned": "turned away", "dark": "too dark",
           "flat": "too flat", "blurred": "blurred", "outside": "partly outside the frame"}
AMBIGUOUS = "ambiguous expression"
# What a person would blame for an answer too unsure to give, when it is the picture
# rather than the face: a picture this poor (its weakest measure under 1.5 times its
# limit), or a crop this dim (its mean grey level; the dim light brings a face
# of mean 128 to about 33, a lighter one of 160 to about 50). A smile in a nearly
# dark room is "too dark to be sure", not an ambiguous expression. The names only
# explain: when to withhold is unchanged.
POOR_PICTURE = 0.75
DIM_LUMINANCE = 50.0
DOUBTS = {"small": "too small to be sure", "turned": "too turned away to be sure",
          "dark": "too dark to be sure", "flat": "too little contrast to be sure",
          "blurred": "too blurred to be sure", "outside": "too far out of frame to be sure"}


def _rotated(points, degrees, about):
    theta = math.radians(-degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return (points - about) @ rotation.T


def head_pose(keypoints):
    """{"yaw", "pitch", "roll"} in degrees from BlazeFace's six keypoints
    (None without keypoints, as from the Haar detector)."""
    if keypoints is None:
        return None
    points = np.asarray(keypoints, float)
    eyes = (points[EYE_LEFT] + points[EYE_RIGHT]) / 2
    dx, dy = points[EYE_RIGHT] - points[EYE_LEFT]
    roll = math.degrees(math.atan2(dy, dx))
    level = _rotated(points, roll, eyes)  # the eyes level, their midpoint at 0
    ears_mid = (level[EAR_LEFT] + level[EAR_RIGHT]) / 2
    half_ears = max(abs(level[EAR_RIGHT][0] - level[EAR_LEFT][0]) / 2, 1.0)
    yaw = math.degrees(math.atan2(level[NOSE][0] - ears_mid[0], NOSE_DEPTH_EARS * half_ears))
    eyes_to_mouth = max(level[MOUTH][1], 1.0)
    along = level[NOSE][1] / eyes_to_mouth
    pitch = math.degrees(math.atan((along - NOSE_ALONG_FRONTAL) / NOSE_DEPTH_FACE))
    return {"yaw": round(yaw, 1), "pitch": round(pitch, 1), "roll": round(roll, 1)}


def eye_distance(box, keypoints):
    """Pixels between the eyes (without keypoints: 0.4 of the box width)."""
    if keypoints is None:
        return 0.4 * box[2]
    return float(np.hypot(*(np.asarray(keypoints[EYE_RIGHT]) - keypoints[EYE_LEFT])))


def crop_measures(crop):
    """(mean grey level, their standard deviation, sharpness) of a 48x48 uint8 crop.
    Sharpness is the variance of the Laplacian of the crop with its histogram
    equalised, as the model sees it: a dark crop is not taken for a blurred one."""
    pixels = np.asarray(crop, np.float32)
    equalised = normalize_light(np.asarray(crop, np.uint8), "equalize").astype(np.float32)
    return (float(pixels.mean()), float(pixels.std()),
            float(cv2.Laplacian(equalised, cv2.CV_32F).var()))


def outside_share(box, frame_size):
    """Share of the box's area outside a frame of (width, height)."""
    x, y, w, h = box
    width, height = frame_size
    inside = max(0.0, min(x + w, width) - max(x, 0)) * max(0.0, min(y + h, height) - max(y, 0))
    return 1.0 - inside / max(w * h, 1e-6)


def measures(crop_stats, box, keypoints, frame_size, pose=None):
    """What quality is judged on, each as a score in 0..1 that is 0.5 at its limit
    (1 at twice the limit, or none of the bad side), by reason; `crop_stats` is
    what crop_measures gave for the face's crop."""
    luminance, contrast, sharpness = crop_stats
    pose = head_pose(keypoints) if pose is None else pose
    turned = 0.0 if pose is None else max(abs(pose["yaw"]) / LIMITS["max_yaw"],
                                          abs(pose["pitch"]) / LIMITS["max_pitch"])
    more = lambda value, limit: min(1.0, value / (2 * limit))  # noqa: E731
    less = lambda ratio: max(0.0, 1.0 - ratio / 2)  # noqa: E731
    return {
        "small": more(eye_distance(box, keypoints), LIMITS["min_eye_distance"]),
        "turned": less(turned),
        "dark": more(luminance, LIMITS["min_luminance"]),
        "flat": more(contrast, LIMITS["min_contrast"]),
        "blurred": more(sharpness, LIMITS["min_sharpness"]),
        "outside": less(outside_share(box, frame_size) / LIMITS["max_outside"]),
    }


def assess(crop_stats, box, keypoints, frame_size, pose=None):
    """{"score": 0..1, "reasons": [...], "doubt": name or None}: the score is the
    worst measure's (below 0.5 means past a limit), the reasons those past their
    limits, in the order of REASONS (a dark face is flat too: "too dark" comes
    first), and doubt what is wrong with a poor or dim picture (a key of DOUBTS)."""
    scores = measures(crop_stats, box, keypoints, frame_size, pose)
    weakest = min(REASONS, key=lambda name: scores[name])
    doubt = (weakest if scores[weakest] < POOR_PICTURE
             else "dark" if crop_stats[0] < DIM_LUMINANCE else None)
    return {"score": round(float(scores[weakest]), 3),
            "reasons": [text for name, text in REASONS.items() if scores[name] < 0.5],
            "doubt": doubt}


def attending(pose):
    """True when the head is turned toward the camera (None without a pose)."""
    if pose is None:
        return None
    return abs(pose["yaw"]) <= ATTENTION["max_yaw"] and abs(pose["pitch"]) <= ATTENTION["max_pitch"]


def confidence_needed(quality):
    """The top probability a label needs on a face of this quality."""
    score = 1.0 if quality is None else quality["score"]
    return MIN_CONFIDENCE + CAUTION * max(0.0, 1.0 - score)


def trust(probabilities, quality):
    """None when the label can be given, else why it is withheld: the first
    quality reason; or, when the top probability is too low for the picture's
    quality, what is wrong with the picture (DOUBTS) if anything, else an
    ambiguous expression."""
    if quality and quality["reasons"]:
        return quality["reasons"][0]
    top = float(np.max(probabilities))
    if top >= confidence_needed(quality):
        return None
    if quality and quality.get("doubt"):
        return DOUBTS[quality["doubt"]]
    return AMBIGUOUS
