"""What a flooding client costs the server: CPU time per refused frame, and
how soon the server disconnects it.

    python bench/flood.py [--frames 3000]

1. A client emits frames without waiting, with the disconnect threshold
   lifted (MAX_FRAME_REFUSALS very high): the server's CPU time (user +
   system, from /proc) per frame, against a polite client's per answered
   frame, shows what one refusal costs the event loop.
2. With the default threshold: how many frames and milliseconds until the
   flooder receives `stream_error` and is disconnected.
"""
import argparse
import os
import threading
import time

import socketio

from common import CLIPS, cpu_summary, jpeg, read_clip
from load import start_server


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood(url, frame, count, rate=2000):
    """Emit `count` frames without waiting; (acks by kind, seconds, stream errors)."""
    client = socketio.Client(reconnection=False)
    errors, acks, done = [], [], threading.Event()
    client.on("stream_error", lambda e: (errors.append((time.perf_counter(), e)), done.set()))
    client.connect(url, transports=["websocket"], wait_timeout=10)
    started = time.perf_counter()
    sent = 0
    for _ in range(count):
        if not client.connected or done.is_set():
            break
        client.emit("frame", frame, callback=acks.append)
        sent += 1
        time.sleep(1 / rate)
    done.wait(2)
    time.sleep(1)
    client.disconnect()
    kinds = {}
    for ack in acks:
        kind = "result" if "faces" in ack else "dropped" if ack.get("dropped") else \
            ack.get("error", {}).get("code", "?")
        kinds[kind] = kinds.get(kind, 0) + 1
    expelled_after = (errors[0][0] - started) * 1000 if errors else None
    return sent, kinds, expelled_after


def polite(url, frame, count):
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=10)
    for _ in range(count):
        client.call("frame", frame, timeout=10)
    client.disconnect()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    args = parser.parse_args()
    print(cpu_summary())
    frames, _ = read_clip(CLIPS[1])
    frame = jpeg(frames[0]) if frames else None
    if frame is None:
        from testkit.synthetic import scene

        frame = jpeg(scene(640, 480))
    print(f"frame: 640x480 JPEG, {len(frame) / 1024:.0f} KiB")
    process, url = start_server({"MAX_FRAME_REFUSALS": "1000000000"})
    try:
        polite(url, frame, 20)  # warm-up
        before = cpu_seconds(process.pid)
        polite(url, frame, 200)
        per_answer = (cpu_seconds(process.pid) - before) / 200
        before = cpu_seconds(process.pid)
        sent, kinds, _ = flood(url, frame, args.frames)
        refused = sent - kinds.get("result", 0)
        spent = cpu_seconds(process.pid) - before
        per_result = kinds.get("result", 0) * per_answer
        print(f"polite client: {per_answer * 1000:.2f} ms of server CPU per answered frame")
        print(f"flooder, never disconnected: {sent} frames sent, acknowledged {kinds}; server CPU "
              f"{spent:.2f} s, {(spent - per_result) / max(refused, 1) * 1000:.3f} ms per refused "
              f"frame (the results' share taken out)")
    finally:
        process.terminate()
        process.wait(10)
    process, url = start_server()
    try:
        polite(url, frame, 5)
        sent, kinds, expelled_after = flood(url, frame, args.frames)
        print(f"flooder, default MAX_FRAME_REFUSALS: disconnected after {sent} frames, "
              f"{expelled_after:.0f} ms; acknowledged {kinds}" if expelled_after is not None
              else f"flooder was not disconnected after {sent} frames: {kinds}")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
