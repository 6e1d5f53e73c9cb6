"""Run CPU-bound work outside the server's event loop, with admission control.

Under eventlet (or gevent) every client shares one OS thread, so decoding,
detection and inference must run on real threads or one busy client stalls
all the others. eventlet's `tpool` hands a call to a pool of OS threads and
parks only the calling greenlet; OpenCV and TFLite release the GIL while they
work, so the event loop keeps serving other clients meanwhile. Under plain
threading each request already has its own thread and the call runs in place.

Each kind of work (live frames, photo analyses) gets its own `Lane` on that
pool: a lane admits at most `capacity` calls at once and answers `Busy` at
once beyond that, so one kind cannot queue work in front of another, and a
full server says so instead of answering late.
"""
import threading


def blocking_runner(async_mode):
    """A function `run(fn, *args)` that runs fn off the event loop for this mode."""
    if async_mode == "eventlet":
        from eventlet import tpool

        return tpool.execute
    if async_mode == "gevent":
        import gevent

        return lambda fn, *args: gevent.get_hub().threadpool.apply(fn, args)
    return lambda fn, *args: fn(*args)


class Busy(RuntimeError):
    """A lane is full: the work was not started."""


class Lane:
    """At most `capacity` calls of one kind of work off the event loop at once."""

    def __init__(self, run_blocking, capacity, name="work"):
        self.run_blocking = run_blocking
        self.capacity = capacity
        self.name = name
        self.in_flight = 0
        self._lock = threading.Lock()  # green under eventlet: only greenlets call run()

    def run(self, fn, *args):
        """fn(*args) off the event loop, or Busy at once if the lane is full."""
        with self._lock:
            if self.in_flight >= self.capacity:
                raise Busy(f"the server is busy with {self.name} ({self.capacity} at once)")
            self.in_flight += 1
        try:
            return self.run_blocking(fn, *args)
        finally:
            with self._lock:
                self.in_flight -= 1
