"""Every patch of a library's private parts, in one place, each pinned to the
library version it was written against (`PINNED`; tests/test_compat.py fails
on any other version, so an upgrade is checked here first):

- eventlet's WebSocket unmasking, done byte by byte in Python, replaced by numpy;
- eventlet.wsgi's connection pool, given the per-address and per-process caps
  (its `spawn(function, conn_state)` convention, conn_state = [address, socket, state]);
- python-socketio's Engine.IO message handler, wrapped to drop a flooder's
  messages unread.
"""
import time

import numpy as np

PINNED = {"eventlet": "0.41.3", "python-socketio": "5.18.1"}


# ---- eventlet: WebSocket unmasking ----

def apply_mask(data, mask, length=None, offset=0):
    """XOR `data` with the 4-byte `mask`, starting at mask position `offset`.

    eventlet unmasks every incoming WebSocket frame byte by byte in Python (RFC
    6455 requires browsers to mask what they send): ~3.5 ms for one 22 KB webcam
    JPEG, spent on the event loop that all clients share. This takes microseconds."""
    if length is None:
        length = len(data)
    payload = np.frombuffer(data, np.uint8, count=length)
    key = np.roll(np.asarray(mask, np.uint8), -(offset % 4))
    # np.tile, not np.resize: resize concatenates length / 4 one-key copies (~1 ms for 22 KB)
    return (payload ^ np.tile(key, length // 4 + 1)[:length]).tobytes()


def speed_up_eventlet_websocket():
    """Replace eventlet's per-byte unmasking with `apply_mask`."""
    from eventlet import websocket

    websocket.RFC6455WebSocket._apply_mask = staticmethod(apply_mask)


# ---- eventlet.wsgi: a connection pool that refuses what is over a cap ----

def guarded_pool(size, admit, release, refuse):
    """An eventlet.wsgi `custom_pool` of `size` connection greenlets that calls
    admit(address) for each new connection (False: `refuse(socket)` is spawned
    instead, never blocking the accept loop) and release(address) when it ends."""
    import eventlet

    class GuardedPool(eventlet.GreenPool):
        def spawn(self, function, conn_state, *args):
            address = conn_state[0]
            if not self.free() or not admit(address):
                return eventlet.spawn(refuse, conn_state[1])
            thread = super().spawn(function, conn_state, *args)
            thread.link(lambda _: release(address))
            return thread

    return GuardedPool(size)


# ---- python-socketio: drop a flooder's messages unread ----

class FloodGuard:
    """Closes a client's connection for flooding, its transport included: a
    Socket.IO-level disconnect alone leaves the WebSocket open, and it is still
    read to its end; each message left in it would reach Socket.IO's parser, fail
    there and be logged with a traceback: thousands from a flooder. Messages of a
    closed transport are dropped before parsing."""

    def __init__(self, server, keep_seconds=300):
        self.server, self.keep_seconds = server, keep_seconds
        self.ignored = {}  # Engine.IO sid -> when it was closed
        self.installed = False

    def close(self, sid):
        eio_sid = self.server.manager.eio_sid_from_sid(sid, "/")
        self._ignore(eio_sid)
        self.server.disconnect(sid)
        if eio_sid is not None:
            self.server.eio.disconnect(eio_sid)

    def _ignore(self, eio_sid):
        if not self.installed:
            parse = self.server._handle_eio_message
            self.server.eio.on("message", lambda eio, data: None if eio in self.ignored
                               else parse(eio, data))
            self.installed = True
        now = time.monotonic()
        for old in [e for e, since in self.ignored.items() if now - since > self.keep_seconds]:
            del self.ignored[old]
        self.ignored[eio_sid] = now
