"""gunicorn's eventlet worker with the connection limits of webapp/serving.py.

gunicorn.conf.py names it; its own settings already give each request's line
and headers a deadline (`keepalive`) and the process a connection cap
(`worker_connections`). This adds the cap per client address and the stall
timeout on bodies and responses.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # see wsgi.py

from gunicorn.workers.geventlet import EventletWorker  # noqa: E402

from webapp.config import Config  # noqa: E402
from webapp.serving import ConnectionCounter, client_host, refuse  # noqa: E402


class GuardedEventletWorker(EventletWorker):
    def init_process(self):
        self.connections = ConnectionCounter(Config.MAX_CONNECTIONS_PER_ADDRESS)
        super().init_process()

    def handle(self, listener, client, addr):
        host = client_host(addr)
        if not self.connections.admit(host):
            refuse(client)
            return
        try:
            client.settimeout(Config.SOCKET_TIMEOUT or None)  # 0: no timeout
            super().handle(listener, client, addr)
        finally:
            self.connections.release(host)
