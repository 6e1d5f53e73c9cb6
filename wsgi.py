"""Entry point: `python wsgi.py` serves the app on $HOST:$PORT (eventlet).

For production, gunicorn's eventlet worker (one worker per process, as
Flask-SocketIO requires): gunicorn -k eventlet -w 1 -b 0.0.0.0:5000 wsgi:app
"""
import os

if os.environ.get("ASYNC_MODE", "eventlet") == "eventlet":
    import eventlet

    eventlet.monkey_patch()

from webapp import create_app  # noqa: E402
from webapp.extensions import socketio  # noqa: E402

app = create_app()

if __name__ == "__main__":
    host, port = app.config["HOST"], app.config["PORT"]
    print(f"Serving on http://{host}:{port}", flush=True)
    socketio.run(app, host=host, port=port, log_output=False)
