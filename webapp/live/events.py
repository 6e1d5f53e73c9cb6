"""Socket.IO handlers of the live stream.

Contract: the client emits `frame` with a JPEG as one binary argument and
gets the result as the event's acknowledgement (see README). A connection
that floods is sent a `stream_error` event with the reason, then
disconnected, the transport included: a Socket.IO-level disconnect alone
leaves the WebSocket open, and the packets a flooder keeps sending would
still be parsed (and logged as errors) one by one.

`connect` and `disconnect` go through Flask-SocketIO; `frame`, the hot path,
is registered on python-socketio's server directly by
`serve_frames_without_flask_context` (called by the app factory).
"""
import time

from flask import current_app, request

from webapp.extensions import socketio


def _streams():
    return current_app.extensions["live_streams"]


@socketio.on("connect")
def on_connect(auth=None):
    _streams().open(request.sid)


@socketio.on("disconnect")
def on_disconnect(reason=None):
    _streams().close(request.sid)


def serve_frames_without_flask_context(app):
    """Answer `frame` events straight from python-socketio's server.

    Flask-SocketIO builds an app and a request context for every event
    (~0.35 ms of the event loop, most of what a refused frame costs); a
    frame needs neither. Call after `socketio.init_app(app)`."""
    streams, server = app.extensions["live_streams"], socketio.server

    def on_frame(sid, data=None, *_):
        return _answer_frame(streams, sid, data,
                             lambda answer: server.emit("stream_error", answer, to=sid))

    server.on("frame", on_frame)


def _answer_frame(streams, sid, data, send_stream_error):
    answer = streams.handle_frame(sid, data)
    if streams.expelled(sid):
        send_stream_error(answer)
        _close_transport(sid)
        return None
    return answer


def _close_transport(sid):
    """Disconnect the client and close its Engine.IO connection; the messages
    it had already sent are dropped unread."""
    server = socketio.server
    eio_sid = server.manager.eio_sid_from_sid(sid, "/")
    _ignore_messages_of(server, eio_sid)
    server.disconnect(sid)
    if eio_sid is not None:
        server.eio.disconnect(eio_sid)


_ignored_transports = {}  # Engine.IO sid -> when it was closed for flooding


def _ignore_messages_of(server, eio_sid, keep_seconds=300):
    """Drop every further message of this Engine.IO connection before parsing.

    A closed WebSocket is still read to its end, and each message left in it
    would reach Socket.IO's parser, fail there and be logged with a
    traceback: thousands from a flooder."""
    if not getattr(server, "_flood_guard", False):
        parse = server._handle_eio_message
        server.eio.on("message", lambda eio, data: None if eio in _ignored_transports
                      else parse(eio, data))
        server._flood_guard = True
    now = time.monotonic()
    for old in [e for e, since in _ignored_transports.items() if now - since > keep_seconds]:
        del _ignored_transports[old]
    _ignored_transports[eio_sid] = now
