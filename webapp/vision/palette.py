"""Colours of faces and emotions, for the video the engine draws and the pages
(which receive them in each page's JSON settings): one palette everywhere."""

# Face colours by id (id 1 takes the first), as CSS hex.
FACE_COLOURS = ("#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176", "#4db6ac",
                "#e57373")
EMOTION_COLOURS = {"angry": "#e57373", "disgust": "#9ccc65", "fear": "#ba68c8",
                   "happy": "#ffd54f", "sad": "#64b5f6", "surprise": "#ff8a65",
                   "neutral": "#b0bec5"}
# A face whose label is withheld ("uncertain") is drawn in this grey, with the reason.
UNCERTAIN_COLOUR = "#8a8f96"


def bgr(hex_colour):
    """'#rrggbb' as OpenCV's (b, g, r)."""
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return blue, green, red
