"""Socket.IO handlers of the live stream.

Contract: the client emits `frame` with a JPEG as one binary argument and
gets the result as the event's acknowledgement (see README). A connection
that floods is sent a `stream_error` event with the reason, then
disconnected, the transport included: a Socket.IO-level disconnect alone
leaves the WebSocket open, and the packets a flooder keeps sending would
still be parsed (and logged as errors) one by one.

`connect` and `disconnect` go through Flask-SocketIO; `frame`, the hot path,
is answered straight from python-socketio's server: Flask-SocketIO builds an
app and a request context for every event (~0.35 ms of the event loop, most of
what a refused frame costs), and a frame needs neither.
"""
from flask import request

from webapp.compat import FloodGuard


def register(app, socketio):
    """The live stream's handlers, on `socketio` once it is bound to `app`."""
    streams, server = app.extensions["live_streams"], socketio.server
    flood_guard = FloodGuard(server)

    def on_connect(auth=None):
        streams.open(request.sid)

    def on_disconnect(reason=None):
        streams.close(request.sid)

    def on_frame(sid, data=None, *_):
        answer = streams.handle_frame(sid, data)
        if streams.expelled(sid):
            server.emit("stream_error", answer, to=sid)
            flood_guard.close(sid)
            return None
        return answer

    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    server.on("frame", on_frame)
