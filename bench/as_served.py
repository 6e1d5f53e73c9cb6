"""FER-2013 faces as a user gets them: through the real server's POST /api/analyze.

    python bench/as_served.py [MODEL.tflite ...] [--split PrivateTest] [--dim] [--limit N]

Each face is upscaled 4x (192 px, cubic), set in a grey (128) frame of 96 px,
sent as PNG to `python wsgi.py` (FACE_DETECTOR=blazeface_short, one server per
model, started in turn) and scored by the largest face's emotion; a face the
server does not find counts wrong. `--dim` first darkens each face by the dim
protocol (training.camera.dim_protocol). Prints accuracy, faces found and the
recall of each class (by the leading emotion, whether or not the server marks the
face uncertain), and the share not marked uncertain with their accuracy, with the CPU.

The photos go one at a time, as one user sends them: with two in work at once the
server would answer each with half the views (Engine.views_for_load), and the
figure would depend on how the requests overlapped.
"""
import argparse
import json
import os
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from common import REPO_ROOT, cpu_summary, fer2013_path, largest_face, start_server
from testkit.synthetic import as_user_sends  # noqa: E402
from training import camera, data  # noqa: E402  (importable once common has set the path)
from webapp.vision.preprocess import EMOTIONS  # noqa: E402

def as_photo(face):
    """A 48x48 face as the PNG a user would send: upscaled, in a grey frame."""
    return cv2.imencode(".png", as_user_sends(face))[1].tobytes()


def post_image(url, image_bytes):
    """The JSON answer of POST /api/analyze for one image."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"face.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + image_bytes \
        + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/api/analyze", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def largest_face_emotion(answer):
    """(the largest face's leading emotion, whether the server marked it uncertain),
    or (None, False) where no face was found."""
    largest = largest_face(answer.get("faces") or [])
    if largest is None:
        return None, False
    return max(largest["scores"], key=largest["scores"].get), largest["emotion"] == "uncertain"


def score(model_path, faces, labels, clients=1):
    """(accuracy, found, recall per class) of the server running `model_path`."""
    env = {"EMOTION_MODEL": os.path.abspath(model_path), "FACE_DETECTOR": "blazeface_short",
           "RATE_LIMIT_ANALYZE": "1000000 per minute", "RATE_LIMIT_API": "1000000 per minute",
           "START_JOB_WORKERS": "0"}
    process, url, _ = start_server(env=env)
    try:
        photos = [as_photo(face) for face in faces]
        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(lambda photo: largest_face_emotion(post_image(url, photo)),
                                    photos))
    finally:
        process.terminate()
        process.wait(timeout=30)
    predicted = np.array([EMOTIONS.index(a) if a in EMOTIONS else -1 for a, _ in answers])
    uncertain = np.array([u for _, u in answers])
    recall = {label: float((predicted[labels == c] == c).mean())
              for c, label in enumerate(EMOTIONS)}
    right = predicted == labels
    answered = ~uncertain & (predicted >= 0)
    return (float(right.mean()), int((predicted >= 0).sum()), recall,
            float(answered.mean()), float(right[answered].mean()) if answered.any() else 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*",
                        default=[os.path.join(REPO_ROOT, "models", "emotion.tflite")])
    parser.add_argument("--data", default=fer2013_path())
    parser.add_argument("--split", choices=data.SPLITS, default="PrivateTest")
    parser.add_argument("--dim", action="store_true", help="faces darkened by the dim protocol")
    parser.add_argument("--limit", type=int, help="first N faces only")
    args = parser.parse_args(argv)
    split = data.load_splits(args.data)[args.split]
    faces, labels = split.images[:args.limit], split.labels[:args.limit]
    if args.dim:
        faces = camera.dim_protocol(faces)
    print(cpu_summary())
    print(f"{args.split}{' dimmed' if args.dim else ''}, {len(faces)} faces through "
          f"POST /api/analyze (blazeface_short), largest face's emotion")
    for model_path in args.models:
        accuracy, found, recall, answered, answered_right = score(model_path, faces, labels)
        print(f"{model_path}: accuracy {accuracy:.2%} (the leading emotion)  found "
              f"{found}/{len(faces)}  recall "
              + " ".join(f"{label} {value:.2f}" for label, value in recall.items())
              + f"; not marked uncertain {answered:.1%}, right {answered_right:.2%} of those",
              flush=True)


if __name__ == "__main__":
    main()
