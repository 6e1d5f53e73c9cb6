"""Run CPU-bound work outside the server's event loop.

Under eventlet (or gevent) every client shares one OS thread, so decoding,
detection and inference must run on real threads or one busy client stalls
all the others. eventlet's `tpool` hands a call to a pool of OS threads and
parks only the calling greenlet; OpenCV and TFLite release the GIL while they
work, so the event loop keeps serving other clients meanwhile. Under plain
threading each request already has its own thread and the call runs in place.
"""


def blocking_runner(async_mode):
    """A function `run(fn, *args)` that runs fn off the event loop for this mode."""
    if async_mode == "eventlet":
        from eventlet import tpool

        return tpool.execute
    if async_mode == "gevent":
        import gevent

        return lambda fn, *args: gevent.get_hub().threadpool.apply(fn, args)
    return lambda fn, *args: fn(*args)
