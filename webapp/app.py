"""Facial emotion recognition in the browser: the Flask app factory."""
import logging
import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import api, health, pages
from webapp.config import ROOT, Config
from webapp.errors import register_error_handlers
from webapp.extensions import socketio
from webapp.jobs.runner import JobRunner
from webapp.jobs.settings import job_settings
from webapp.jobs.store import JobStore
from webapp.live.streams import LiveStreams
from webapp.offload import Lane, blocking_runner
from webapp.ratelimit import install_rate_limits
from webapp.security import register_security_headers
from webapp.sockets import init_socketio
from webapp.vision.pipeline import Engine


def create_app(overrides=None):
    """Build the app: config, the vision engine, live stream, video jobs, pages and API."""
    app = Flask(__name__, static_folder=os.path.join(ROOT, "static"),
                template_folder=os.path.join(ROOT, "templates"))
    app.config.from_object(Config)
    if overrides:
        app.config.update(overrides)
    app.json.sort_keys = False  # keys in the documented order (box, emotion, scores...)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = Engine(app.config["MODEL_PATH"], detector=app.config["FACE_DETECTOR"],
                    max_pixels=app.config["MAX_IMAGE_PIXELS"],
                    max_faces=app.config["MAX_FACES_PER_FRAME"])
    run_blocking = blocking_runner(app.config["ASYNC_MODE"])
    app.extensions.update(emotion_engine=engine, run_blocking=run_blocking)
    app.extensions["live_streams"] = LiveStreams.from_config(engine, run_blocking, app.config)
    app.extensions["analyze_lane"] = Lane(run_blocking, app.config["MAX_ANALYZE_IN_FLIGHT"],
                                          "photo analyses")
    _init_jobs(app)
    _init_web(app)
    init_socketio(app)
    if app.config["START_JOB_WORKERS"]:
        app.extensions["job_runner"].start()
    return app


def _init_jobs(app):
    """The job store, and the runner: a job worker process, or RQ with REDIS_URL."""
    config = app.config
    store = JobStore(config["JOBS_DIR"])
    app.extensions["job_store"] = store
    expiry = {"retention_seconds": config["JOB_RETENTION_SECONDS"],
              "queued_seconds": config["JOB_QUEUE_TIMEOUT_SECONDS"],
              "stalled_seconds": config["JOB_STALL_SECONDS"]}
    if config["REDIS_URL"]:
        from webapp.jobs.redis_queue import RQRunner  # needs the redis and rq packages

        app.extensions["job_runner"] = RQRunner(
            store, config["REDIS_URL"], job_settings(config), socketio.start_background_task,
            socketio.sleep, **expiry)
    else:
        app.extensions["job_runner"] = JobRunner(
            store, job_settings(config), socketio.start_background_task, socketio.sleep,
            workers=config["JOB_WORKERS"], **expiry)


def _init_web(app):
    """Pages, API, probes, error pages, headers, rate limits, proxy headers."""
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    register_error_handlers(app)
    register_security_headers(app)
    install_rate_limits(app)
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
