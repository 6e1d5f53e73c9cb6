"""POST /api/analyze: the faces and emotions in one uploaded image.

The request body is limited to MAX_IMAGE_BYTES (413 beyond); decoding and
analysis run off the event loop in the photo lane (503 `busy` when full).
"""
from flask import current_app, jsonify, request

from webapp.api import bp
from webapp.errors import error_response
from webapp.offload import Busy
from webapp.vision.decode import DecodeError

STATUS_FOR_DECODE_ERROR = {"too_large": 413, "not_an_image": 415, "bad_type": 415}


@bp.post("/analyze")
def analyze():
    request.max_content_length = current_app.config["MAX_IMAGE_BYTES"]
    upload = request.files.get("image")
    if upload is None:
        return error_response(400, "missing_field",
                              "send the image as the multipart form field 'image'")
    data = upload.read()
    engine = current_app.extensions["emotion_engine"]
    try:
        result = current_app.extensions["analyze_lane"].run(
            engine.analyze_bytes, data, current_app.config["MAX_IMAGE_PIXELS"])
    except Busy as busy:
        return error_response(503, "busy", f"{busy}; try again in a moment")
    except DecodeError as error:
        return error_response(STATUS_FOR_DECODE_ERROR.get(error.code, 400), error.code,
                              error.message)
    return jsonify(result)
