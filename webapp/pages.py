"""The HTML pages."""
from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def live():
    """The live webcam page."""
    return render_template("live.html")


@bp.get("/upload")
def upload():
    """Upload a video (or a photo) to annotate."""
    return render_template("upload.html")
