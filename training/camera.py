"""What cameras do to faces, as training augmentation: dim and uneven light,
flat contrast, over-exposure, low resolution, blur, sensor noise and JPEG.

FER-2013's web photos are mostly well lit, sharp and frontal; a webcam in a
dim room or a phone video of a hall is not. Each change is applied to a face
at random, on uint8 pixels, before the crop's light normalisation
(`preprocess.normalize_light`), just as a camera's picture reaches the server.

    degraded = camera.degrade(images, np.random.default_rng(0))

`dim` is also the dim-light protocol the figures are measured with.
"""
import cv2
import numpy as np


def dim(image, gain=0.45, gamma=1.8):
    """Less light: pixel -> 255 * gain * (pixel / 255) ** gamma."""
    x = image.astype(np.float32) / 255.0
    return 255.0 * gain * x ** gamma


def uneven(image, rng, darkest):
    """Light falling from one side: a linear ramp from `darkest` to 1 across
    the face, in a random direction."""
    h, w = image.shape
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    along = (xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)
    along = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    return image * (darkest + (1 - darkest) * along)


def flat(image, factor):
    """Low contrast: grey levels pulled toward their mean."""
    mean = image.mean()
    return mean + (image - mean) * factor


def low_resolution(image, side):
    """The face as a camera sees it `side` pixels wide, scaled back up."""
    h, w = image.shape
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def jpeg(image, quality):
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


DARKEST = 0.2  # the least light `dim` leaves in training, unless told otherwise


def dark_video(image, rng, scale=4):
    """A face filmed in a nearly dark room: seen `scale` times larger, 3-12% of
    its light kept (linear, as a dimmed video's luma), a little sensor noise,
    rounded to the few grey levels left, compressed, and scaled back down."""
    h, w = image.shape
    x = cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    x = x.astype(np.float32) * rng.uniform(0.03, 0.12)
    x = x + rng.normal(0.0, rng.uniform(0.3, 1.5), x.shape)
    x = jpeg(np.clip(np.rint(x), 0, 255).astype(np.uint8), rng.integers(20, 61))
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)


def degrade_one(image, rng, darkest=DARKEST, dark_video_share=0.0):
    """One uint8 face with a random mix of camera conditions (about a third of
    faces are left as they are); dim light keeps between `darkest` and all of it;
    `dark_video_share` of faces are filmed in a nearly dark room instead."""
    if dark_video_share and rng.random() < dark_video_share:
        return dark_video(image, rng)
    if rng.random() < 0.3:
        return image
    x = image.astype(np.float32)
    if rng.random() < 0.5:
        x = dim(x, gain=rng.uniform(darkest, 1.0), gamma=rng.uniform(1.0, 2.4))
    elif rng.random() < 0.2:
        x = dim(x, gain=1.0, gamma=rng.uniform(0.45, 0.9))  # over-exposed
    if rng.random() < 0.3:
        x = uneven(x, rng, darkest=rng.uniform(0.25, 0.9))
    if rng.random() < 0.25:
        x = flat(x, rng.uniform(0.35, 0.9))
    if rng.random() < 0.5:
        x = x + rng.normal(0.0, rng.uniform(1.0, 9.0), x.shape)  # sensor noise
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        x = low_resolution(x, int(rng.integers(18, 41)))
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.4))
    if rng.random() < 0.3:
        x = jpeg(x, rng.integers(20, 91))
    return x


def degrade(images, rng, darkest=DARKEST, dark_video_share=0.0):
    """A stack of uint8 faces (N, h, w), each degraded on its own."""
    if not len(images):
        return images
    return np.stack([degrade_one(image, rng, darkest, dark_video_share) for image in images])


def dim_protocol(images, seed=0, gain=0.45, gamma=1.8, noise=4.0):
    """The dim-light test: each face pixel -> 255 * 0.45 * (pixel / 255) ** 1.8
    plus Gaussian noise of sigma 4, clipped; noise drawn with numpy's seed 0 in
    the faces' order."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        x = dim(image, gain, gamma) + rng.normal(0.0, noise, image.shape)
        out[i] = np.clip(x, 0, 255).astype(np.uint8)
    return out
