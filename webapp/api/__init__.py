"""The REST API."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from webapp.api import analyze, videos  # noqa: E402,F401  (registers the routes)
