"""The HTML pages."""
from flask import Blueprint, render_template

from webapp.video import CSV_COLUMNS
from webapp.vision.palette import EMOTION_COLOURS, FACE_COLOURS, UNCERTAIN_COLOUR
from webapp.vision.preprocess import EMOTIONS

bp = Blueprint("pages", __name__)

# What every page's scripts read (static/js/emotions.js): labels in the model's order
# and the palette the video is drawn in.
UI_SETTINGS = {"emotions": list(EMOTIONS), "emotion_colours": EMOTION_COLOURS,
               "face_colours": list(FACE_COLOURS), "uncertain_colour": UNCERTAIN_COLOUR,
               "result_columns": CSV_COLUMNS}


@bp.app_context_processor
def ui_settings():
    return {"ui_settings": UI_SETTINGS}


@bp.get("/")
def live():
    """The live webcam page."""
    return render_template("live.html")


@bp.get("/upload")
def upload():
    """Upload a video (or a photo) to annotate."""
    return render_template("upload.html")
