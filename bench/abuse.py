"""The real server under abuse: half-open connections and descriptor growth.

    python bench/abuse.py                      # this checkout
    python bench/abuse.py --server gunicorn    # gunicorn's eventlet worker instead
    python bench/abuse.py --repo OTHER_CHECKOUT  # the same probes against another version

1. 1,100 half-open HTTP connections (a request line and one header, then
   silence) from one client address, then the same spread over 22 addresses
   (50 each); meanwhile a client from another address asks for /healthz and
   sends a Socket.IO frame. Prints how long each took (or that it timed out),
   and how long the server kept the idle connections open.
2. 1,000 calls to /readyz and the API: the server's open file descriptors
   (/proc/<pid>/fd) before and after.

The attackers use other loopback addresses (127.0.0.2, 127.0.1.x) than the
probes (127.0.0.1), as an attacker and a visitor would differ: Linux routes
all of 127.0.0.0/8 to loopback.
"""
import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import socketio

import common
from common import REPO_ROOT, cpu_summary
from testkit.descriptors import settled_descriptors  # noqa: E402  (importable once common has set the path)
from testkit.synthetic import jpeg, scene  # noqa: E402

HALF_OPEN_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: never ends


def raise_open_file_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_command(repo, server):
    if server == "wsgi":
        return [sys.executable, "wsgi.py"]
    command = [sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:{port}", "wsgi:app"]
    if not os.path.exists(os.path.join(repo, "gunicorn.conf.py")):  # an older checkout
        command[3:3] = ["-k", "eventlet", "-w", "1"]
    return command


def start_server(repo, server, env, jobs_dir):
    command = server_command(repo, server)
    print("server: python", " ".join(command[1:]))
    return common.start_server(dict(env, JOBS_DIR=jobs_dir), command, cwd=repo)


def open_half_open(port, addresses, count):
    """`count` connections spread over `addresses`, each stopped mid-headers."""
    sockets, refused = [], 0
    for index in range(count):
        sock = socket.socket()
        sock.settimeout(1)
        try:
            sock.bind((addresses[index % len(addresses)], 0))
            sock.connect(("127.0.0.1", port))
            sock.sendall(HALF_OPEN_REQUEST)
            sockets.append(sock)
        except OSError:
            refused += 1
            sock.close()
    return sockets, refused


def still_open(sockets):
    """How many of these connections the server has not closed."""
    count = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            sock.recv(4096)  # an end of stream, or the server's refusal before it closes
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def timed(probe, timeout):
    start = time.perf_counter()
    try:
        probe(timeout)
        return f"{(time.perf_counter() - start) * 1000:.0f} ms"
    except Exception as error:  # the figure is the failure
        return f"failed after {time.perf_counter() - start:.1f} s ({type(error).__name__})"


def healthz_probe(url):
    return lambda timeout: urllib.request.urlopen(url + "/healthz", timeout=timeout).read()


def socketio_probe(url, frame):
    def probe(timeout):
        client = socketio.Client(reconnection=False)
        try:
            client.connect(url, transports=["websocket"], wait_timeout=timeout)
            result = client.call("frame", frame, timeout=timeout)
            assert len(result["faces"]) == 1, result
        finally:
            client.disconnect()
    return probe


def half_open_scenario(url, port, addresses, count, frame, hold_seconds):
    sockets, refused = open_half_open(port, addresses, count)
    try:
        time.sleep(1)
        print(f"  {len(sockets)} connected ({refused} not within 1 s); 1 s later "
              f"{still_open(sockets)} still open")
        print(f"  /healthz: {timed(healthz_probe(url), 20)}; "
              f"Socket.IO connect + frame: {timed(socketio_probe(url, frame), 20)}")
        start = time.monotonic()
        while time.monotonic() - start < hold_seconds and still_open(sockets):
            time.sleep(1)
        print(f"  after {time.monotonic() - start:.0f} s, {still_open(sockets)} of the held "
              "connections are still open")
    finally:
        for sock in sockets:
            sock.close()


def descriptor_scenario(url, pid, calls, frame):
    unknown_job = url + "/api/videos/" + "A" * 24
    boundary = "bench-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"face.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + frame + \
        f"\r\n--{boundary}--\r\n".encode()

    def one_round():
        urllib.request.urlopen(url + "/readyz", timeout=30).read()
        try:
            urllib.request.urlopen(unknown_job, timeout=30)
        except urllib.error.HTTPError as error:
            assert error.code == 404
        request = urllib.request.Request(
            url + "/api/analyze", data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        urllib.request.urlopen(request, timeout=30).read()

    for _ in range(5):  # warm-up: each worker thread's interpreter and connection
        one_round()
    before = len(settled_descriptors(pid))
    rounds = calls // 3
    for _ in range(rounds):
        one_round()
    after = len(settled_descriptors(pid))
    print(f"  {rounds * 3} calls ({rounds} each of /readyz, GET /api/videos/<unknown id>, "
          f"POST /api/analyze): {before} -> {after} open descriptors ({after - before:+d})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", default=REPO_ROOT, help="checkout whose wsgi.py to run")
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=40,
                        help="seconds to wait for the server to drop idle connections")
    parser.add_argument("--only", choices=["half-open", "descriptors"])
    parser.add_argument("--server", choices=["wsgi", "gunicorn"], default="wsgi",
                        help="python wsgi.py, or gunicorn's eventlet worker")
    args = parser.parse_args()
    limit = raise_open_file_limit(args.connections + 512)
    print(f"{cpu_summary()}; open-file limit of this process: {limit}")
    frame = jpeg(scene(640, 480))
    env = {"RATE_LIMIT_API": "100000 per minute", "RATE_LIMIT_ANALYZE": "100000 per minute"}
    jobs_dir = tempfile.mkdtemp(prefix="abuse-jobs-")
    process, url, port = start_server(os.path.abspath(args.repo), args.server, env,
                                       jobs_dir)
    try:
        print(f"idle server: /healthz {timed(healthz_probe(url), 20)}, Socket.IO connect + "
              f"frame {timed(socketio_probe(url, frame), 20)}")
        if args.only != "descriptors":
            print(f"{args.connections} half-open connections from one address (127.0.0.2):")
            half_open_scenario(url, port, ["127.0.0.2"], args.connections, frame, args.hold)
            print(f"{args.connections} half-open connections from 22 addresses (127.0.1.1-22):")
            addresses = [f"127.0.1.{i}" for i in range(1, 23)]
            half_open_scenario(url, port, addresses, args.connections, frame, args.hold)
        if args.only != "half-open":
            print("open descriptors:")
            descriptor_scenario(url, process.pid, args.calls, frame)
        print(f"server still running: {process.poll() is None}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(jobs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
