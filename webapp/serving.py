"""Connection limits for the eventlet server (`python wsgi.py`) and gunicorn's
eventlet worker (`webapp.gunicorn_worker`).

Left as it is, eventlet's server waits forever for a request's headers and
serves at most 1,024 connections: a thousand sockets that send half a request
and go silent take every slot, and nobody else is served. Here:

- a request's line and headers must arrive within HEADER_TIMEOUT (also how
  long an idle keep-alive connection waits for its next request);
- a body being read or a response being written may stall SOCKET_TIMEOUT;
- a socket upgraded to WebSocket is exempt from both: it waits between
  frames by design, and Engine.IO replaces its timeout with the ping interval
  plus the ping timeout (25 + 20 s), so a WebSocket whose pongs stop is closed;
- one client address holds at most MAX_CONNECTIONS_PER_ADDRESS connections,
  the process at most MAX_CONNECTIONS, kept below its open-file limit; a
  connection over either cap is answered 503 and closed at once (under
  gunicorn, one over MAX_CONNECTIONS waits in the listen queue instead).
"""
import collections
import logging
import resource
import socket

RESERVED_DESCRIPTORS = 256  # for models, the job database, uploads, pipes
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
           b"Content-Type: text/plain\r\nContent-Length: 21\r\n\r\ntoo many connections\n")


class ConnectionCounter:
    """Open connections per client address, with a cap per address (0: none)."""

    def __init__(self, per_address):
        self.per_address = per_address
        self.open = collections.Counter()

    def admit(self, address):
        """Count a new connection from `address`; False if that would pass the cap."""
        if self.per_address and self.open[address] >= self.per_address:
            return False
        self.open[address] += 1
        return True

    def release(self, address):
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


def client_host(address):
    """The host part of a socket's peer address (the whole thing for a Unix socket)."""
    return address[0] if isinstance(address, tuple) else address


def refuse(sock):
    """Answer 503 without waiting (best effort) and close the connection."""
    try:
        sock.setblocking(False)
        sock.send(REFUSAL)
    except OSError:
        pass
    sock.close()


def connection_budget(max_connections):
    """MAX_CONNECTIONS (0: as many as fit), lowered to fit this process's
    open-file limit (raised to its hard limit first): running out of
    descriptors stops eventlet's accept loop for good."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    fits = 1 << 20 if soft == resource.RLIM_INFINITY else max(16, soft - RESERVED_DESCRIPTORS)
    return min(max_connections, fits) if max_connections else fits


def serve_eventlet(app, host, port, certificate=None, backlog=1024):
    """What socketio.run does under eventlet, with these limits and a listen
    queue deep enough for a burst of connections (Flask-SocketIO's holds 50)."""
    import eventlet
    import eventlet.wsgi

    family, _, _, _, address = socket.getaddrinfo(host, port)[0]
    listener = eventlet.listen(address, family, backlog=backlog)
    if certificate:
        listener = eventlet.wrap_ssl(listener, server_side=True, **certificate)
    # One access-log line a request, at INFO (LOG_LEVEL=WARNING silences them).
    eventlet.wsgi.server(listener, app, log=logging.getLogger("webapp.access"),
                         **eventlet_server_options(app.config))


def eventlet_server_options(config):
    """Keyword arguments for eventlet.wsgi.server; a setting of 0 means no limit."""
    import eventlet
    import eventlet.wsgi

    from webapp.compat import guarded_pool

    class HeaderDeadlineProtocol(eventlet.wsgi.HttpProtocol):
        """eventlet's HTTP protocol with a deadline on each request's headers
        (eventlet's own timeouts apply to each read, which a slow sender resets)."""

        def parse_request(self):
            late = socket.timeout("request headers too slow")
            with eventlet.Timeout(config["HEADER_TIMEOUT"] or None, late):
                return super().parse_request()

    counter = ConnectionCounter(config["MAX_CONNECTIONS_PER_ADDRESS"])
    pool = guarded_pool(connection_budget(config["MAX_CONNECTIONS"]),
                        admit=lambda address: counter.admit(client_host(address)),
                        release=lambda address: counter.release(client_host(address)),
                        refuse=refuse)
    return {"custom_pool": pool,
            "protocol": HeaderDeadlineProtocol,
            "keepalive": config["HEADER_TIMEOUT"] or True,  # True: keep-alive, no timeout
            "socket_timeout": config["SOCKET_TIMEOUT"] or None}
