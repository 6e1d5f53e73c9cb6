"""Checks of an annotated video against its input, by content: every frame
decoded with ffmpeg, compared with the input's picture outside the drawn
boxes, the boxes found where the results say, the audio there. And helpers to
upload a video to a real server and wait for its job."""
import csv
import io
import json
import subprocess
import time
import urllib.request

import numpy as np

from testkit import clips
from webapp import video
from webapp.vision.draw import UNCERTAIN_BGR, face_colour

MIN_PSNR = 30.0  # dB outside the boxes; H.264 at CRF 23 gives ~35-45, a sheared frame ~10-15


def decoded_frames(path, size=None):
    """Every video frame of a file as BGR arrays (scaled to size=(w, h) as the
    job scales them), one at a time, each frame once whatever the timestamps."""
    info = video.probe(path)
    width, height = size or (info["width"], info["height"])
    process = subprocess.Popen(
        [clips.FFMPEG, "-v", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
         "-vf", f"scale={width}:{height}:flags=area", "-pix_fmt", "bgr24", "-f", "rawvideo",
         "pipe:1"], stdout=subprocess.PIPE)
    frame_bytes = width * height * 3
    try:
        while True:
            data = process.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
    finally:
        process.stdout.close()
        process.kill()
        process.wait()


def count_frames(path):
    return sum(1 for _ in decoded_frames(path))


def box_mask(shape, boxes):
    """True outside the drawn boxes and their labels (a margin around each box,
    and a band above it as wide as a label can be)."""
    keep = np.ones(shape[:2], bool)
    height, width = shape[:2]
    margin = max(4, round(min(height, width) / 240) + 4)
    label = max(24, round(min(height, width) / 14))
    for x, y, w, h in boxes:
        keep[max(0, y - label - margin):min(height, y + h + margin),
             max(0, x - margin):min(width, x + max(w, 8 * label) + margin)] = False
    return keep


def psnr(a, b, mask=None):
    """Peak signal-to-noise ratio of two frames (over the pixels of mask)."""
    difference = a.astype(np.float32) - b.astype(np.float32)
    if mask is not None:
        difference = difference[mask]
    mse = float(np.mean(difference ** 2)) if difference.size else 0.0
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def edge_colour_share(frame, box, colour, tolerance=60):
    """Share of the pixels on a box's top and bottom edges close to the colour."""
    x, y, w, h = box
    height, width = frame.shape[:2]
    xs = np.arange(max(0, x), min(width, x + w))
    edges = [frame[row, xs] for row in (y, y + h) if 0 <= row < height]
    if not edges:
        return 0.0
    pixels = np.concatenate(edges).astype(int)
    return float(np.mean(np.abs(pixels - np.array(colour)).max(axis=1) < tolerance))


def check_annotated(input_path, output_path, csv_text, json_body):
    """Compare an annotated video with its input frame by frame; returns a
    report dict. Asserts the results agree with each other and the frames."""
    csv_rows = list(csv.DictReader(io.StringIO(csv_text)))
    json_rows = json_body["rows"]
    assert len(csv_rows) == len(json_rows)
    boxes, ids = {}, {}
    for a, b in zip(csv_rows, json_rows):
        assert int(a["frame"]) == b["frame"] and int(a["face_id"]) == b["face_id"]
        assert a["emotion"] == b["emotion"] and [int(a[k]) for k in "xywh"] == [
            b[k] for k in "xywh"]
        boxes.setdefault(b["frame"], []).append([b[k] for k in "xywh"])
        colour = UNCERTAIN_BGR if b["emotion"] == "uncertain" else face_colour(b["face_id"])
        ids.setdefault(b["frame"], []).append(colour)
    out_info = video.probe(output_path)
    size = (out_info["width"], out_info["height"])
    frames_in = frames_out = 0
    scores, boxes_seen = [], []
    inputs = decoded_frames(input_path, size)
    for index, annotated in enumerate(decoded_frames(output_path)):
        frames_out += 1
        original = next(inputs, None)
        if original is None:
            continue
        frames_in += 1
        frame_boxes = boxes.get(index, [])
        scores.append(psnr(original, annotated, box_mask(annotated.shape, frame_boxes)))
        for box, colour in zip(frame_boxes, ids.get(index, [])):
            boxes_seen.append(edge_colour_share(annotated, box, colour))
    frames_in += sum(1 for _ in inputs)
    scores = np.array(scores)
    return {"frames_in": frames_in, "frames_out": frames_out, "size": size,
            "matching": float(np.mean(scores >= MIN_PSNR)) if scores.size else 0.0,
            "min_psnr": float(scores.min()) if scores.size else 0.0,
            "rows": len(json_rows), "frames_with_faces": len(boxes),
            "last_row_frame": max(boxes) if boxes else -1,
            "boxes_drawn": float(np.mean(np.array(boxes_seen) > 0.5)) if boxes_seen else 1.0,
            "streams": clips.stream_codecs(output_path), "video": json_body["video"],
            "json": json_body}


# ---- a real server, over HTTP ----

def upload(url, path, name="clip.mp4", timeout=60):
    """POST a file as the multipart field `video`; returns (status, JSON body)."""
    boundary = "----video-test-boundary"
    with open(path, "rb") as f:
        data = f.read()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/api/videos", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def get(url, path, timeout=30):
    with urllib.request.urlopen(url + path, timeout=timeout) as answer:
        return answer.read()


def job(url, job_id):
    return json.loads(get(url, f"/api/videos/{job_id}"))


def wait_finished(url, job_id, timeout=300):
    deadline = time.time() + timeout
    while True:
        state = job(url, job_id)
        if state["status"] in ("done", "failed", "cancelled"):
            return state
        assert time.time() < deadline, f"job still {state['status']} after {timeout} s"
        time.sleep(0.3)


def download_results(url, job_id, folder):
    """(annotated video path, CSV text, JSON body) of a done job."""
    output = str(folder / f"{job_id}.mp4")
    with open(output, "wb") as f:
        f.write(get(url, f"/api/videos/{job_id}/video"))
    return (output, get(url, f"/api/videos/{job_id}/results.csv").decode(),
            json.loads(get(url, f"/api/videos/{job_id}/results.json")))


def send(url, path, method, token=None):
    """A cancel/delete request; returns the HTTP status."""
    headers = {"X-Job-Token": token} if token else {}
    request = urllib.request.Request(url + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def read_csv_rows(path):
    """The rows of a results CSV, with their numbers as numbers (empty: None)."""
    integers, texts = {"frame", "face_id", "person_id", "x", "y", "w", "h", "attending"}, {"emotion", "reasons"}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            yield {name: (value if name in texts else None if value == "" else
                          int(value) if name in integers else float(value))
                   for name, value in row.items()}
