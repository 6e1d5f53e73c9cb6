"""One error shape for the whole API: {"error": {"code", "message"}}."""
from flask import jsonify


def error_response(status, code, message):
    return jsonify({"error": {"code": code, "message": message}}), status


def error_dict(code, message):
    return {"error": {"code": code, "message": message}}
