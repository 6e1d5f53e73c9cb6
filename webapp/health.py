"""Liveness and readiness probes for hosts and orchestrators."""
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and serving."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready for traffic: the model answers and the job store is reachable."""
    checks = {}
    try:
        run_blocking = current_app.extensions["run_blocking"]  # off the event loop
        run_blocking(current_app.extensions["emotion_engine"].self_test)
        checks["model"] = "ok"
    except Exception as error:  # reported, not raised: this is a probe
        checks["model"] = f"error: {type(error).__name__}"
    try:
        current_app.extensions["job_store"].ids_with_status("queued")
        checks["job_store"] = "ok"
    except Exception as error:
        checks["job_store"] = f"error: {type(error).__name__}"
    runner = current_app.extensions["job_runner"]
    if hasattr(runner, "ping"):
        try:
            runner.ping()
            checks["queue"] = "ok"
        except Exception as error:
            checks["queue"] = f"error: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), (
        200 if ready else 503)
