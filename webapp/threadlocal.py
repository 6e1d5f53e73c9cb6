"""State kept per OS thread, also where eventlet has monkey-patched threading.

Patched, `threading.local` is per greenlet: every request would open its own
TFLite interpreter or SQLite connection and leave it for the garbage
collector. Greenlets of one OS thread never run at once, so they can share
what an OS thread may hold; OS threads (eventlet's tpool) still get their own.
"""
import sys
import threading


def os_thread_local():
    """A `threading.local()` whose attributes are per OS thread, never per greenlet."""
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return patcher.original("threading").local()
    return threading.local()
