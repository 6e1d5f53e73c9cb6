"""Socket.IO handlers of the live stream.

Contract: the client emits `frame` with a JPEG as one binary argument and
gets the result as the event's acknowledgement (see README).
"""
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


@socketio.on("frame")
def on_frame(data=None, *_):
    return _streams().handle_frame(request.sid, data)
