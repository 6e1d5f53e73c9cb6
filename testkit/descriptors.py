"""Open file descriptors of a process (Linux /proc), for leak checks."""
import os
import time


def open_descriptors(pid):
    """What each open descriptor of the process points to, by number."""
    folder = f"/proc/{pid}/fd"
    targets = {}
    for name in os.listdir(folder):
        try:
            targets[name] = os.readlink(os.path.join(folder, name))
        except OSError:  # closed between listing and reading
            pass
    return targets


def settled_descriptors(pid, seconds=2.0):
    """The fewest open descriptors seen over a short while: a socket whose close is still
    in flight, or a database the server polls, is not a leak, and a leaked descriptor
    stays for every look."""
    fewest = open_descriptors(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = open_descriptors(pid)
        if len(now) < len(fewest):
            fewest = now
    return fewest
