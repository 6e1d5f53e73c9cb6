"""Emotion labels and face preprocessing, shared by training and serving.

This is the one place that says what the model's outputs mean and how a face
crop becomes the model's input. `training/` writes these values into
`models/emotion.json`; the server reads them back from there.
"""
import cv2
import numpy as np

# Output order of the model: FER-2013's label ids 0..6.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

INPUT_SIZE = (48, 48)  # (height, width), FER-2013's crop size
CHANNELS = 1  # grayscale
# model input = pixel * INPUT_SCALE + INPUT_OFFSET, for pixels in 0..255
INPUT_SCALE = 1.0 / 127.5
INPUT_OFFSET = -1.0


def normalize(pixels, scale=INPUT_SCALE, offset=INPUT_OFFSET):
    """Map 0..255 grayscale pixels to the model's input range (float32)."""
    return np.asarray(pixels, dtype=np.float32) * np.float32(scale) + np.float32(offset)


def crop_face(gray_image, box, size=INPUT_SIZE):
    """Cut the face box [x, y, w, h] out of a grayscale image, resized to `size`.

    The box is clipped to the image; a box entirely outside it gives None.
    """
    x, y, w, h = (int(round(v)) for v in box)
    img_h, img_w = gray_image.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, img_w), min(y + h, img_h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = gray_image[y0:y1, x0:x1]
    shrinking = crop.shape[0] > size[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(crop, (size[1], size[0]), interpolation=interpolation)
