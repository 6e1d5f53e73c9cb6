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
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed",
                429: "rate_limited"}.get(error.code, "bad_request")
        message = error.description
        if error.code == 413:
            message = f"the upload is larger than the server accepts ({request.max_content_length} bytes)"
        elif error.code == 429:
            message = f"too many requests from this address (limit: {error.description}); try again later"
        response, status = error_response(error.code, code, message)
        response.headers.extend(error.get_headers() if error.code == 429 else [])
        return response, status
