"""One error shape for the whole API: {"error": {"code", "message"}}."""
from flask import jsonify, request
from werkzeug.exceptions import HTTPException


def error_response(status, code, message):
    return jsonify({"error": {"code": code, "message": message}}), status


def error_dict(code, message):
    return {"error": {"code": code, "message": message}}


def register_error_handlers(app):
    """HTTP errors under /api/ answer in JSON too (413 for an oversize upload, ...)."""

    @app.errorhandler(HTTPException)
    def http_error(error):
        if not request.path.startswith("/api/"):
            return error
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            error.code, "bad_request")
        message = ("the upload is larger than the server accepts "
                   f"({request.max_content_length} bytes)" if error.code == 413
                   else error.description)
        return error_response(error.code, code, message)
