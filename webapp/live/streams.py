"""Per-connection state of the live stream and the handling of one frame.

Each connection has its own tracking session (face ids, smoothing), freed on
disconnect. The checks run cheapest first, and every frame counts against the
connection's rate (`max_frame_rate` per second), malformed ones included:

- over the rate, or sent while the connection's previous frame is still in
  work: refused at once (`rate_limited` error, or `dropped`), without
  touching the frame. A connection with more than `max_refusals` refusals
  within `refusal_window` seconds is flooding: it is told why and
  disconnected (`expelled`);
- not one binary argument, or too many bytes: an error;
- all live workers busy (`lane` full): `dropped`, the server is busy;
- a frame that waited more than `frame_deadline` seconds for a worker is
  dropped there rather than processed late.
"""
import logging
import time
from dataclasses import dataclass

from webapp.errors import error_dict
from webapp.offload import Busy, Lane
from webapp.vision.decode import DecodeError

log = logging.getLogger(__name__)

BUSY_REASON = "the previous frame is still being processed"


@dataclass
class Connection:
    session: object
    busy: bool = False
    tokens: float | None = None  # frames it may send now (see over_rate); None: a second's worth
    last_arrival: float = 0.0
    refusals: int = 0  # within the current refusal window
    window_start: float = 0.0
    expelled: bool = False
    wait: float = 0.0  # seconds until the next token, after a refusal

    def over_rate(self, max_per_second, now):
        """Take a token for an arrival; True if there is none left.

        A token bucket: `max_per_second` tokens a second, and as many at most
        in hand (a second's worth, which a new connection starts with), so a
        client within the limit on average is never refused for the jitter of
        its timer or its network, while a flood beyond it is."""
        if self.tokens is None:
            self.tokens = float(max_per_second)
        elif self.last_arrival:
            self.tokens = min(float(max_per_second),
                              self.tokens + (now - self.last_arrival) * max_per_second)
        self.last_arrival = now
        if self.tokens < 1.0:
            self.wait = (1.0 - self.tokens) / max_per_second
            return True
        self.tokens -= 1.0
        return False

    def refuse(self, now, window, max_refusals):
        """Count a refusal; True once they exceed max_refusals in one window."""
        if now - self.window_start > window:
            self.window_start, self.refusals = now, 0
        self.refusals += 1
        return self.refusals > max_refusals


class LiveStreams:
    """All open live connections of one app."""

    def __init__(self, engine, run_blocking, max_frame_bytes, max_frame_pixels,
                 max_frame_rate=30, frame_deadline=0.25, max_refusals=60, refusal_window=2.0,
                 max_in_flight=8):
        self.engine = engine
        self.lane = Lane(run_blocking, max_in_flight, "live frames")
        self.max_frame_bytes = max_frame_bytes
        self.max_frame_pixels = max_frame_pixels
        self.max_frame_rate = max_frame_rate
        self.frame_deadline = frame_deadline
        self.max_refusals = max_refusals
        self.refusal_window = refusal_window
        self.connections = {}

    @classmethod
    def from_config(cls, engine, run_blocking, config):
        return cls(engine, run_blocking, config["MAX_FRAME_BYTES"], config["MAX_FRAME_PIXELS"],
                   config["MAX_FRAME_RATE"], config["FRAME_DEADLINE_MS"] / 1000,
                   config["MAX_FRAME_REFUSALS"], max_in_flight=config["MAX_LIVE_IN_FLIGHT"])

    def open(self, sid):
        self.connections[sid] = Connection(self.engine.session(people="live"))

    def close(self, sid):
        self.connections.pop(sid, None)

    def expelled(self, sid):
        """True if this connection flooded and must be disconnected."""
        connection = self.connections.get(sid)
        return connection is not None and connection.expelled

    def handle_frame(self, sid, data):
        """The acknowledgement for one `frame` event: a result, a drop or an error."""
        connection = self.connections.get(sid)
        if connection is None:
            self.open(sid)
            connection = self.connections[sid]
        now = time.monotonic()
        if connection.expelled:
            return error_dict("flooding", "this connection is being disconnected for flooding")
        if connection.over_rate(self.max_frame_rate, now):
            refusal = error_dict(
                "rate_limited", f"more than {self.max_frame_rate} frames a second; send at "
                                "the camera's pace, at most that many")
            refusal["retry_after_ms"] = max(1, round(connection.wait * 1000))
            return self._refuse(connection, now, refusal)
        if connection.busy:
            return self._refuse(connection, now, {"dropped": True, "reason": BUSY_REASON})
        if not isinstance(data, bytes | bytearray):
            return error_dict("bad_type", "send the frame as one binary JPEG argument, "
                                          f"not {type(data).__name__}")
        if len(data) > self.max_frame_bytes:
            return error_dict("too_large", f"the frame is {len(data)} bytes; the limit is "
                                           f"{self.max_frame_bytes}")
        connection.busy = True
        try:
            return self.lane.run(self._process, connection.session, bytes(data), now)
        except Busy:
            return {"dropped": True, "reason": "the server is busy; send the next frame"}
        except DecodeError as error:
            return error_dict(error.code, error.message)
        except Exception:  # one bad frame must never take the server down
            log.exception("frame processing failed")
            return error_dict("internal", "the frame could not be processed")
        finally:
            connection.busy = False

    def _process(self, session, data, arrived):
        """On a worker thread: the frame's result, unless it waited too long."""
        waited = time.monotonic() - arrived
        if waited > self.frame_deadline:
            return {"dropped": True, "reason": f"the frame waited {waited * 1000:.0f} ms for a "
                                               "worker; send the next one"}
        return session.process_bytes(data, None, self.max_frame_pixels)

    def _refuse(self, connection, now, answer):
        if connection.refuse(now, self.refusal_window, self.max_refusals):
            connection.expelled = True
            return error_dict("flooding", f"more than {self.max_refusals} frames refused in "
                                          f"{self.refusal_window:g} s (sent before the previous "
                                          "acknowledgement or over the rate): disconnected")
        return answer
