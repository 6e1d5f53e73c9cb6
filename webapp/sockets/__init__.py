"""Every Socket.IO handler of the app, registered by one call from the app factory:

    init_socketio(app)

- `live.py`: the webcam stream (`connect`, `disconnect`, `frame`; see README's contract);
- `jobs.py`: video job progress (`watch_job`, then `job` events).
"""
from webapp.extensions import socketio
from webapp.sockets import jobs, live


def init_socketio(app):
    """Bind the Socket.IO server to `app` and register the handlers."""
    config = app.config
    origins = config["CORS_ALLOWED_ORIGINS"]
    if origins and origins != "*":
        origins = [origin.strip() for origin in origins.split(",")]
    socketio.init_app(
        app,
        async_mode=config["ASYNC_MODE"],
        # Leave room above MAX_FRAME_BYTES so an oversize frame gets an error
        # acknowledgement instead of a dropped connection.
        max_http_buffer_size=config["MAX_FRAME_BYTES"] * 4,
        # With several server processes, Socket.IO events travel through Redis.
        message_queue=config["REDIS_URL"] or None,
        cors_allowed_origins=origins,
    )
    live.register(app, socketio)
    jobs.register(app, socketio)
