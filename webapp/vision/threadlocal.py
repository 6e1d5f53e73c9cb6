"""State kept per OS thread, also under eventlet.

eventlet's monkey-patching turns `threading.local` into a per-greenlet store:
a detector or interpreter kept there would be built again for every request.
Detectors and interpreters are expensive and not thread-safe, so they belong
to an OS thread: this gives the original `threading.local` where eventlet has
patched it.
"""
import sys
import threading


def per_os_thread():
    """A fresh `threading.local` whose attributes are per OS thread."""
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return patcher.original("threading").local()
    return threading.local()
