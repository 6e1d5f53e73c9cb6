"""Soak: 10 clients at 10 frames per second for 5 minutes against the real
server on loopback; prints latency and server memory at the start and the end.

    python bench/soak.py [--clients 10] [--minutes 5]
"""
import argparse
import threading
import time

import numpy as np

from common import CLIPS, jpeg, read_clip
from load import PacedClient, rss_mb, start_server


def window(clients, origin, start, end):
    """p50/p95 round trip (ms) of the frames sent between start and end seconds."""
    values = [rt for c in clients for sent, rt in zip(c.sent_at, c.round_trips)
              if start <= sent - origin < end]
    if not values:
        return float("nan"), float("nan"), 0
    values = np.array(values) * 1000
    return np.percentile(values, 50), np.percentile(values, 95), len(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=5)
    args = parser.parse_args()
    frames, _ = read_clip(CLIPS[1])
    encoded = [jpeg(frame) for frame in frames]
    seconds = args.minutes * 60
    process, url = start_server()
    try:
        rss = [(0.0, rss_mb(process.pid))]
        origin = time.perf_counter()
        clients = [PacedClient(url, encoded[i * 11:] + encoded[:i * 11], seconds, 10)
                   for i in range(args.clients)]
        for client in clients:
            client.start()

        def sample_memory():
            while any(c.is_alive() for c in clients):
                time.sleep(15)
                rss.append((time.perf_counter() - origin, rss_mb(process.pid)))

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        for client in clients:
            client.join()
        sent = sum(c.sent for c in clients)
        answered = sum(c.results + c.dropped for c in clients)
        errors = sum(len(c.errors) for c in clients)
        print(f"{args.clients} clients x 10 fps for {args.minutes:g} min: {sent} frames sent, "
              f"{answered} answered, {sum(c.dropped for c in clients)} dropped, {errors} errors")
        for name, (start, end) in (("first minute", (0, 60)),
                                   ("last minute", (seconds - 60, seconds))):
            p50, p95, count = window(clients, origin, start, end)
            print(f"  {name}: {count} frames, round trip p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        print("  server RSS (MB) over time: " +
              ", ".join(f"{t / 60:.1f} min {mb:.0f}" for t, mb in rss))
        print(f"  server still running: {process.poll() is None}")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
