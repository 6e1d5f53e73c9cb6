"""gunicorn settings, read from the working directory: `gunicorn wsgi:app`.

Every value comes from the app's environment settings (webapp/config.py).
"""
from webapp.config import Config
from webapp.serving import connection_budget

bind = f"{Config.HOST}:{Config.PORT}"
workers = 1  # Flask-SocketIO keeps its clients in one process: scale with processes
worker_class = "webapp.gunicorn_worker.GuardedEventletWorker"
worker_connections = connection_budget(Config.MAX_CONNECTIONS)
# The eventlet worker's deadline for each request's line and headers, which is
# also how long an idle keep-alive connection stays open.
keepalive = Config.HEADER_TIMEOUT
# The event loop never blocks this long unless something is wrong: then the
# worker is replaced.
timeout = 120
graceful_timeout = 30
