"""Per-connection state of the live stream and the handling of one frame.

Each connection has its own tracking session (face ids, smoothing), freed on
disconnect. A connection has at most one frame in processing: a frame that
arrives while the previous one is still being worked on is dropped and
acknowledged as such, so a fast sender gets fresh results instead of a queue
of stale ones, and cannot take more than its share of the workers. Frames
above `max_frame_rate` per second are refused with an error acknowledgement.
"""
import collections
import logging
import time
from dataclasses import dataclass, field

from webapp.errors import error_dict
from webapp.vision.decode import DecodeError

log = logging.getLogger(__name__)


@dataclass
class Connection:
    session: object
    busy: bool = False
    frames: int = 0
    dropped: int = 0
    arrivals: collections.deque = field(default_factory=collections.deque)

    def over_rate(self, max_per_second, now):
        """Record an arrival; True if it is one too many for the last second."""
        while self.arrivals and now - self.arrivals[0] >= 1.0:
            self.arrivals.popleft()
        if len(self.arrivals) >= max_per_second:
            return True
        self.arrivals.append(now)
        return False


class LiveStreams:
    """All open live connections of one app."""

    def __init__(self, engine, run_blocking, max_frame_bytes, max_frame_pixels,
                 max_frame_rate=30):
        self.engine = engine
        self.run_blocking = run_blocking
        self.max_frame_bytes = max_frame_bytes
        self.max_frame_pixels = max_frame_pixels
        self.max_frame_rate = max_frame_rate
        self.connections = {}

    def open(self, sid):
        self.connections[sid] = Connection(self.engine.session())

    def close(self, sid):
        self.connections.pop(sid, None)

    def handle_frame(self, sid, data):
        """The acknowledgement for one `frame` event: a result, a drop or an error."""
        connection = self.connections.get(sid)
        if connection is None:
            self.open(sid)
            connection = self.connections[sid]
        if not isinstance(data, bytes | bytearray):
            return error_dict("bad_type", "send the frame as one binary JPEG argument, "
                                          f"not {type(data).__name__}")
        if len(data) > self.max_frame_bytes:
            return error_dict("too_large", f"the frame is {len(data)} bytes; the limit is "
                                           f"{self.max_frame_bytes}")
        if connection.over_rate(self.max_frame_rate, time.monotonic()):
            return error_dict("rate_limited", f"more than {self.max_frame_rate} frames a "
                                              "second; wait for each acknowledgement")
        if connection.busy:
            connection.dropped += 1
            return {"dropped": True, "reason": "the previous frame is still being processed"}
        connection.busy = True
        try:
            result = self.run_blocking(connection.session.process_bytes, bytes(data), None,
                                       self.max_frame_pixels)
            connection.frames += 1
            return result
        except DecodeError as error:
            return error_dict(error.code, error.message)
        except Exception:  # one bad frame must never take the server down
            log.exception("frame processing failed")
            return error_dict("internal", "the frame could not be processed")
        finally:
            connection.busy = False
