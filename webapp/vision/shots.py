"""Shot changes: a cut in an edited video, or a switch of camera, after which no
face is the one it was before, even where a box sits where another's was.

    cuts = ShotChanges()
    if cuts.is_cut(gray_frame): ...   # the stream's tracks end here

Each frame, without the black bars both it and the last frame have (letterbox,
pillarbox), is shrunk to a 64x36 thumbnail and standardised (its mean grey level
taken away, divided by its spread), so that a change of exposure or light
changes nothing; a cut is a thumbnail that differs from the previous one by
more than CUT_DIFFERENCE on average. Measured (bench/shots.py): within a shot of
the sample clips at most 0.19, a camera panning 10% of the frame a frame 0.28,
the light falling to 60% 0.002; the cuts between the sample clips 0.80 to 1.04
(letterboxed or not), a cut between two shots of the same group photo 1.12.
It costs 0.2 ms a frame (640x480 to 1920x1080, one core).
"""
import cv2
import numpy as np

THUMBNAIL = (64, 36)
CUT_DIFFERENCE = 0.5
SMALL = (160, 90)  # about the size of the frame as compared (bars found, thumbnails cut)
BAR_SPREAD, BAR_LEVEL = 3.0, 24.0  # a bar: rows or columns at an edge, uniform and dark


def picture_box(small):
    """(x0, x1, y0, y1) of the small frame inside its black bars (letterbox or
    pillarbox), which stay the same across a cut and would hide it."""
    columns = np.flatnonzero((small.std(axis=0) > BAR_SPREAD) | (small.mean(axis=0) > BAR_LEVEL))
    rows = np.flatnonzero((small.std(axis=1) > BAR_SPREAD) | (small.mean(axis=1) > BAR_LEVEL))
    if len(columns) < small.shape[1] // 10 or len(rows) < small.shape[0] // 10:
        return 0, small.shape[1], 0, small.shape[0]
    return columns[0], columns[-1] + 1, rows[0], rows[-1] + 1


def shrunk(gray):
    """The frame at about SMALL: every n-th pixel of every n-th row, smoothed by a
    pyramid step (a fifth of the time of an area resize of the whole frame)."""
    height, width = gray.shape[:2]
    factor = max(1, min(width // SMALL[0], height // SMALL[1]) // 2)
    return cv2.pyrDown(np.ascontiguousarray(gray[::factor, ::factor])).astype(np.float32)


def thumbnail(small, box):
    x0, x1, y0, y1 = box
    cut = cv2.resize(small[y0:y1, x0:x1], THUMBNAIL, interpolation=cv2.INTER_AREA)
    return (cut - cut.mean()) / max(float(cut.std()), 1.0)


class ShotChanges:
    """Says, frame by frame, whether a new shot has begun."""

    def __init__(self):
        self.previous = None  # (the last frame, small, its picture box)

    def difference(self, gray):
        """Mean difference of this frame's standardised thumbnail from the last
        one's, both cut from the region inside either frame's bars (None for the
        first frame); remembers this frame."""
        small = shrunk(gray)
        box = picture_box(small)
        previous, self.previous = self.previous, (small, box)
        if previous is None:
            return None
        both = (min(box[0], previous[1][0]), max(box[1], previous[1][1]),
                min(box[2], previous[1][2]), max(box[3], previous[1][3]))
        return float(np.abs(thumbnail(small, both) - thumbnail(previous[0], both)).mean())

    def is_cut(self, gray):
        difference = self.difference(gray)
        return difference is not None and difference > CUT_DIFFERENCE
