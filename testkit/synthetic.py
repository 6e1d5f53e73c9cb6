"""Images and videos the tests draw themselves, so the suite means something
on a machine without the shared sample files.

The drawn face is a plain cartoon (skin oval, dark eyes and brows, a mouth),
which OpenCV's Haar cascade finds like a real frontal face.
"""
import cv2
import numpy as np


def cartoon_face(size=360, smile=True):
    """A grayscale size x size cartoon face on a darker background."""
    image = np.full((size, size), 90, np.uint8)
    centre, radius = size // 2, int(size * 0.28)
    cv2.ellipse(image, (centre, centre), (radius, int(radius * 1.3)), 0, 0, 360, 200, -1)
    eye_dx, eye_y = int(radius * 0.42), centre - int(radius * 0.25)
    for side in (-1, 1):
        eye_x = centre + side * eye_dx
        cv2.ellipse(image, (eye_x, eye_y), (int(radius * 0.22), int(radius * 0.11)), 0, 0, 360,
                    40, -1)
        cv2.line(image, (eye_x - int(radius * 0.25), eye_y - int(radius * 0.28)),
                 (eye_x + int(radius * 0.25), eye_y - int(radius * 0.3)), 60, max(2, size // 80))
    cv2.line(image, (centre, eye_y + int(radius * 0.1)), (centre, centre + int(radius * 0.25)),
             150, max(2, size // 60))
    mouth_y = centre + int(radius * 0.55)
    start, end = (0, 180) if smile else (180, 360)
    cv2.ellipse(image, (centre, mouth_y), (int(radius * 0.4), int(radius * 0.15)), 0, start, end,
                60, max(3, size // 60))
    return cv2.GaussianBlur(image, (0, 0), size / 160)


def scene(width=640, height=480, faces=None, background=90):
    """A BGR frame with cartoon faces pasted at (x, y, size); by default one
    face filling three quarters of the frame's height."""
    if faces is None:
        size = int(min(width, height) * 0.75)
        faces = ((width // 10, (height - size) // 2, size),)
    frame = np.full((height, width), background, np.uint8)
    for x, y, size in faces:
        frame[y:y + size, x:x + size] = cartoon_face(size)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def no_face_scene(width=640, height=480):
    """A BGR frame of a gradient, stripes and boxes: nothing face-like."""
    gradient = np.linspace(40, 220, width, dtype=np.float32)
    frame = np.tile(gradient, (height, 1)).astype(np.uint8)
    frame[::40] = 0
    cv2.rectangle(frame, (80, 120), (260, 300), 250, -1)
    cv2.circle(frame, (470, 260), 70, 30, -1)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def jpeg(image, quality=85):
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def write_y4m(path, frames, fps=15):
    """Write BGR frames as a YUV4MPEG2 (4:2:0) file, as Chromium's fake camera reads."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())


def as_user_sends(face, upscale=4, frame=96):
    """A 48x48 face as a user would send it in a photo: upscaled (cubic), in a grey
    (128) frame (bench/as_served.py's protocol)."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(big, frame, frame, frame, frame, cv2.BORDER_CONSTANT, value=128)
