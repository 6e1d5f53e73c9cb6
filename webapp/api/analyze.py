"""POST /api/analyze: the faces and emotions in one uploaded image."""
from flask import current_app, jsonify, request

from webapp.api import bp
from webapp.errors import error_response
from webapp.vision.decode import DecodeError

STATUS_FOR_DECODE_ERROR = {"too_large": 413, "not_an_image": 415, "bad_type": 415}


@bp.post("/analyze")
def analyze():
    upload = request.files.get("image")
    if upload is None:
        return error_response(400, "missing_field",
                              "send the image as the multipart form field 'image'")
    data = upload.read()
    engine = current_app.extensions["emotion_engine"]
    run_blocking = current_app.extensions["run_blocking"]
    try:
        image = engine.decode(data, current_app.config["MAX_IMAGE_PIXELS"])
    except DecodeError as error:
        return error_response(STATUS_FOR_DECODE_ERROR.get(error.code, 400), error.code,
                              error.message)
    result = run_blocking(engine.analyze, image)
    return jsonify(result)
