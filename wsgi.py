"""Entry point: `python wsgi.py` serves the app on $HOST:$PORT.

With the default ASYNC_MODE=eventlet, the standard library is monkey-patched
first, so that eventlet serves HTTP and WebSocket in one process.
"""
import os
import warnings

# eventlet (the owner's choice of server, see the README) warns on import that it is
# in maintenance mode; said once in the README, not at every start.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

if os.environ.get("ASYNC_MODE", "eventlet") == "eventlet":
    # OS threads that run frames and video jobs off the event loop: a few more
    # than the cores suffice for CPU-bound work (eventlet's default is 20).
    os.environ.setdefault("EVENTLET_THREADPOOL_SIZE", "8")
    import eventlet

    eventlet.monkey_patch()

    from webapp.compat import speed_up_eventlet_websocket

    speed_up_eventlet_websocket()

from webapp.app import create_app  # noqa: E402
from webapp.extensions import socketio  # noqa: E402
from webapp.serving import serve_eventlet  # noqa: E402

app = create_app()

if __name__ == "__main__":
    from webapp.tls import tls_files

    host, port = app.config["HOST"], app.config["PORT"]
    tls = tls_files(app.config)
    certificate = {"certfile": tls[0], "keyfile": tls[1]} if tls else {}
    print(f"Serving on http{'s' if tls else ''}://{host}:{port}", flush=True)
    if app.config["ASYNC_MODE"] == "eventlet":
        serve_eventlet(app, host, port, certificate)  # with the connection limits
    else:
        socketio.run(app, host=host, port=port, log_output=False, **certificate)
