"""Draw results onto a BGR frame: a box and a label per face, one colour per track
(the pages' palette, webapp/vision/palette.py), the label numbered by person."""
import cv2

from webapp.vision.palette import FACE_COLOURS, UNCERTAIN_COLOUR, bgr
from webapp.vision.track import intersection

FACE_COLOURS_BGR = [bgr(colour) for colour in FACE_COLOURS]
UNCERTAIN_BGR = bgr(UNCERTAIN_COLOUR)


def face_colour(face_id):
    return FACE_COLOURS_BGR[(face_id - 1) % len(FACE_COLOURS_BGR)]


def face_label(face):
    """What is written over a face: its person's number (as known when the frame
    is drawn; a video's second pass may still join two people's tracks), its
    emotion and confidence, or why it has none."""
    person = face.get("person_id", face["id"])
    if face.get("uncertain"):
        return f"{person}: ? {face['uncertain']}"
    return f"{person}: {face['emotion']} {face['confidence'] * 100:.0f}%"


def place_tags(boxes, sizes, frame_size):
    """Where each face's label tag goes, (x, y) of its top-left corner: above its
    box, else below it, else inside its top, left- or right-aligned, kept in the
    frame: the first place that covers no other face and no tag placed before
    (else the one covering least). A crowd's labels stay off each other's faces.
    `sizes` are the tags' (width, height), `frame_size` the frame's (width, height).
    The pages place theirs the same way (static/js/emotions.js: placeTags)."""
    width, height = frame_size
    placed = []
    for index, ((x, y, w, h), (tag_w, tag_h)) in enumerate(zip(boxes, sizes)):
        candidates = [(left, top) for top in (y - tag_h, y + h, y) for left in (x, x + w - tag_w)]
        others = [box for i, box in enumerate(boxes) if i != index]
        best = None
        for left, top in candidates:
            left = min(max(0, left), max(0, width - tag_w))
            top = min(max(0, top), max(0, height - tag_h))
            tag = (left, top, tag_w, tag_h)
            covered = sum(intersection(tag, other) for other in others + placed)
            if best is None or covered < best[0]:
                best = (covered, tag)
            if covered == 0:
                break
        placed.append(best[1])
    return [(tag[0], tag[1]) for tag in placed]


def draw_faces(frame, faces):
    """Draw each face of a result onto `frame` in place, and return it: a box
    and a label in the face's colour, in grey with the reason where the label
    is withheld. A small face's label is written smaller (down to a readable
    size), and placed off the other faces (place_tags)."""
    thickness = max(2, round(min(frame.shape[:2]) / 240))
    frame_scale = max(0.5, min(frame.shape[:2]) / 900)
    tags = []
    for face in faces:
        label = face_label(face)
        colour = UNCERTAIN_BGR if face.get("uncertain") else face_colour(face["id"])
        scale = max(0.4, min(frame_scale, face["box"][2] / 120))
        weight = thickness // 2 + 1 if scale >= 0.6 else 1
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
        tags.append((label, colour, scale, weight, text_h, (text_w + 6, text_h + baseline + 4)))
    corners = place_tags([face["box"] for face in faces], [tag[-1] for tag in tags],
                         (frame.shape[1], frame.shape[0]))
    for face, (_, colour, *_) in zip(faces, tags):
        x, y, w, h = face["box"]
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, thickness)
    for (label, colour, scale, weight, text_h, (tag_w, tag_h)), (left, top) in zip(tags, corners):
        cv2.rectangle(frame, (left, top), (left + tag_w, top + tag_h), colour, -1)
        cv2.putText(frame, label, (left + 3, top + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (29, 19, 0), weight, cv2.LINE_AA)
    return frame
