"""Load on the real eventlet server over loopback, with python-socketio clients
sending real JPEG frames of a face clip; prints latency, throughput, drops and
the server's memory.

    python bench/load.py                 # every scenario, ~5.5 minutes
    python bench/load.py --seconds 10    # shorter runs
    python bench/load.py --only flood    # one scenario: one, eight, sixteen, flood, flood_once

1. one client, 640x480 frames, each sent when the last is acknowledged, at
   up to 30 fps (the server's default per-connection limit);
2. 8 clients at 10 frames per second each;
3. 16 clients at 10 frames per second each;
4. 7 clients at 10 fps, with and without an 8th client that floods (emits
   without waiting for acknowledgements, and connects again each time the
   server disconnects it);
5. the same with a flooder that does not connect again.
"""
import argparse
import threading
import time

import numpy as np
import socketio

import common
from common import CLIPS, cpu_summary, jpeg, read_clip


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(settings=None):
    """`python wsgi.py` with these settings: (process, url)."""
    process, url, _ = common.start_server(settings)
    return process, url


class PacedClient(threading.Thread):
    """Sends frames at `fps` (0 = as fast as acknowledgements come back)."""

    def __init__(self, url, frames, seconds, fps):
        super().__init__(daemon=True)
        self.url, self.frames, self.seconds, self.fps = url, frames, seconds, fps
        self.round_trips, self.results, self.dropped, self.errors, self.sent = [], 0, 0, [], 0
        self.sent_at = []  # time.perf_counter() of each frame
        self.drop_reasons = {}

    def run(self):
        client = socketio.Client(reconnection=False)
        client.connect(self.url, transports=["websocket"], wait_timeout=10)
        period = 1.0 / self.fps if self.fps else 0.0
        deadline = time.perf_counter() + self.seconds
        index = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                answer = client.call("frame", self.frames[index % len(self.frames)], timeout=10)
            except Exception as error:  # a timeout counts as an unanswered frame
                self.errors.append(repr(error))
                answer = {}
            self.sent += 1
            self.sent_at.append(started)
            self.round_trips.append(time.perf_counter() - started)
            if "faces" in answer:
                self.results += 1
            elif answer.get("dropped"):
                self.dropped += 1
                reason = answer.get("reason", "")
                reason = "waited" if "waited" in reason else reason.split(";")[0]
                self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + 1
            elif "error" in answer:
                self.errors.append(answer["error"]["code"])
            index += 1
            time.sleep(max(0.0, period - (time.perf_counter() - started)))
        client.disconnect()


class Flooder(threading.Thread):
    """Emits frames without waiting for acknowledgements (bounded: `seconds`),
    and connects again whenever the server disconnects it."""

    def __init__(self, url, frame, seconds, rate=300, reconnect=True):
        super().__init__(daemon=True)
        self.url, self.frame, self.seconds, self.rate = url, frame, seconds, rate
        self.reconnect = reconnect
        self.sent, self.acks, self.stream_errors, self.connections = 0, [], [], 0

    def _connect(self):
        client = socketio.Client(reconnection=False)
        client.on("stream_error", self.stream_errors.append)
        client.connect(self.url, transports=["websocket"], wait_timeout=10)
        self.connections += 1
        return client

    def run(self):
        client = self._connect()
        deadline = time.perf_counter() + self.seconds
        while time.perf_counter() < deadline:
            try:
                if not client.connected:
                    raise socketio.exceptions.BadNamespaceError("disconnected")
                client.emit("frame", self.frame, callback=self.acks.append)
                self.sent += 1
            except socketio.exceptions.SocketIOError:
                client.disconnect()
                if not self.reconnect:
                    break
                client = self._connect()
            time.sleep(1.0 / self.rate)
        time.sleep(2)
        client.disconnect()


def run_clients(url, frames, count, seconds, fps):
    clients = [PacedClient(url, frames[i * 7:] + frames[:i * 7], seconds, fps)
               for i in range(count)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return clients


def summary(clients, seconds):
    round_trips = np.concatenate([c.round_trips for c in clients]) * 1000
    sent = sum(c.sent for c in clients)
    results = sum(c.results for c in clients)
    dropped = sum(c.dropped for c in clients)
    errors = [e for c in clients for e in c.errors]
    reasons = {}
    for client in clients:
        for reason, count in client.drop_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return (f"{sent} frames sent, {results} results, {dropped} dropped "
            f"({100 * dropped / max(sent, 1):.1f}%{', ' + str(reasons) if reasons else ''}), "
            f"{len(errors)} errors{' ' + str(sorted(set(errors))) if errors else ''}; "
            f"round trip p50 {np.percentile(round_trips, 50):.1f} ms, "
            f"p95 {np.percentile(round_trips, 95):.1f} ms, max {round_trips.max():.0f} ms; "
            f"{results / seconds:.1f} results/s"), np.percentile(round_trips, 95)


def scenario_one(url, encoded, seconds, clip_name="the clip"):
    one = run_clients(url, encoded, 1, min(seconds, 20), 30)
    print(f"1 client at up to 30 fps (the per-connection limit), {clip_name}:",
          summary(one, min(seconds, 20))[0])


def scenario_many(url, encoded, seconds, count):
    clients = run_clients(url, encoded, count, seconds, 10)
    print(f"{count} clients at 10 fps for {seconds:g} s:", summary(clients, seconds)[0])


def scenario_flood(url, encoded, seconds, reconnect=True):
    flood_seconds = min(seconds, 30)
    text, calm_p95 = summary(run_clients(url, encoded, 7, flood_seconds, 10), flood_seconds)
    print("7 clients at 10 fps:", text)
    flooder = Flooder(url, encoded[0], flood_seconds, reconnect=reconnect)
    flooder.start()
    text, flooded_p95 = summary(run_clients(url, encoded, 7, flood_seconds, 10), flood_seconds)
    flooder.join()
    print(f"7 clients at 10 fps + 1 flooding ({'connecting again each time it is disconnected' if reconnect else 'once'}):", text)
    kinds = {}
    for ack in flooder.acks:
        kind = "result" if "faces" in ack else "dropped" if ack.get("dropped") else \
            ack.get("error", {}).get("code", "?")
        kinds[kind] = kinds.get(kind, 0) + 1
    reasons = {e.get("error", {}).get("code") for e in flooder.stream_errors}
    print(f"  flooder: {flooder.sent} sent, {len(flooder.acks)} acknowledged: {kinds}; "
          f"disconnected {len(flooder.stream_errors)} times {sorted(reasons)}, "
          f"{flooder.connections} connections")
    print(f"  p95 of the others: {calm_p95:.1f} ms without, {flooded_p95:.1f} ms with the "
          f"flooder ({100 * (flooded_p95 / calm_p95 - 1):+.0f}%)")


SCENARIOS = ("one", "eight", "sixteen", "flood", "flood_once")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--only", choices=SCENARIOS, action="append",
                        help="run only this scenario (repeatable)")
    args = parser.parse_args()
    scenarios = args.only or SCENARIOS
    print(cpu_summary())
    frames, _ = read_clip(CLIPS[1])
    if frames is None:
        from testkit.synthetic import scene

        frames = [scene(640, 480, faces=((100 + 2 * (i % 20), 60, 360),)) for i in range(60)]
        print("sample clip not found: using drawn faces")
    encoded = [jpeg(frame) for frame in frames]
    print(f"frames: 640x480 JPEG, {np.mean([len(e) for e in encoded]) / 1024:.0f} KiB on average")
    process, url = start_server()
    try:
        run_clients(url, encoded, 1, 3, 30)  # warm-up
        start_rss = rss_mb(process.pid)
        if "one" in scenarios:
            clips = {name: read_clip(name)[0] for name in CLIPS}  # each as one stream
            streams = {name: [jpeg(frame) for frame in clip]
                       for name, clip in clips.items() if clip is not None}
            for name, stream in (streams or {"drawn faces": encoded}).items():
                scenario_one(url, stream, args.seconds, name)
        if "eight" in scenarios:
            scenario_many(url, encoded, args.seconds, 8)
        if "sixteen" in scenarios:
            scenario_many(url, encoded, args.seconds, 16)
        print(f"server RSS: {start_rss:.0f} MB before, {rss_mb(process.pid):.0f} MB after")
        if "flood" in scenarios:
            scenario_flood(url, encoded, args.seconds)
        if "flood_once" in scenarios:
            scenario_flood(url, encoded, args.seconds, reconnect=False)
        print(f"server RSS at the end: {rss_mb(process.pid):.0f} MB; "
              f"server still running: {process.poll() is None}")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
