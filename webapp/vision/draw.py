"""Draw results onto a BGR frame: a box and a label per face, one colour per track
(the pages' palette, webapp/vision/palette.py), the label numbered by person."""
import cv2

from webapp.vision.palette import FACE_COLOURS, UNCERTAIN_COLOUR, bgr

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


def draw_faces(frame, faces):
    """Draw each face of a result onto `frame` in place, and return it: a box
    and a label in the face's colour, in grey with the reason where the label
    is withheld."""
    thickness = max(2, round(min(frame.shape[:2]) / 240))
    font_scale = max(0.5, min(frame.shape[:2]) / 900)
    for face in faces:
        x, y, w, h = face["box"]
        colour = UNCERTAIN_BGR if face.get("uncertain") else face_colour(face["id"])
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, thickness)
        label = face_label(face)
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                                     thickness // 2 + 1)
        top = max(0, y - text_h - baseline - 4)
        cv2.rectangle(frame, (x, top), (x + text_w + 6, top + text_h + baseline + 4), colour, -1)
        cv2.putText(frame, label, (x + 3, top + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (29, 19, 0), thickness // 2 + 1, cv2.LINE_AA)
    return frame
