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
