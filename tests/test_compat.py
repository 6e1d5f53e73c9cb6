"""The numpy WebSocket unmasking gives eventlet's own answer."""
import os

import pytest
from eventlet.websocket import RFC6455WebSocket

from webapp.compat import apply_mask

ORIGINAL = RFC6455WebSocket.__dict__["_apply_mask"].__func__


@pytest.mark.parametrize("size, offset", [(0, 0), (1, 0), (5, 3), (22_000, 0), (1023, 2),
                                          (4096, 7)])
def test_numpy_unmasking_matches_eventlet(size, offset):
    data = os.urandom(size + 3)
    mask = (0x12, 0xAB, 0x00, 0xFF)
    assert apply_mask(data, mask, length=size, offset=offset) == ORIGINAL(
        data, mask, length=size, offset=offset)
    assert apply_mask(data[:size], mask) == ORIGINAL(data[:size], mask)


def test_the_patched_libraries_are_the_versions_the_patches_were_written_for():
    """webapp/compat.py reaches into private parts of these libraries: on another
    version, check each patch there against the new code, then update PINNED."""
    from importlib.metadata import version

    from webapp.compat import PINNED

    assert {name: version(name) for name in PINNED} == PINNED


def test_the_private_parts_patched_are_where_the_patches_expect_them():
    import inspect

    import eventlet.wsgi
    import socketio

    assert "_apply_mask" in RFC6455WebSocket.__dict__
    # eventlet.wsgi.server spawns each connection as pool.spawn(handler, [address, socket, state])
    assert "pool.spawn(serv.process_request, connection)" in inspect.getsource(eventlet.wsgi.server)
    assert "connection = [client_addr, client_socket, STATE_IDLE]" in inspect.getsource(
        eventlet.wsgi.server)
    server = socketio.Server()
    assert callable(server._handle_eio_message)
    assert server.eio.handlers["message"] == server._handle_eio_message
