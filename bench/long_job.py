"""A 10-minute video job through the real server: how long it takes, how soon
its summary is there once it is done, and how the results view copes with it.

    python bench/long_job.py [--minutes 9.9] [--no-page]

The clip is testkit.clips.people_clip (four known people, cuts and returns)
looped to the length asked, 640x480 at 25 fps. Prints the job's time, the
persons found (four are there), the summary's cost (the job writes it in its
last pass; here also computed again from the results JSON), the time from
"done" to the summary answered, and, in Chromium, the time from opening the
job to its results drawn, the longest task the page ran meanwhile, and a
click on the room chart until the player is there.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
import urllib.request

from common import SAMPLES_DIR, cpu_summary, start_server
from testkit import clips, videocheck  # noqa: E402  (importable once common has set the path)
from webapp.vision.summary import summarize  # noqa: E402


def looped(path, seconds, out):
    loops = max(0, int(seconds // 16) - 1)
    subprocess.run([clips.FFMPEG, "-v", "error", "-y", "-stream_loop", str(loops), "-i", path,
                    "-t", str(seconds), "-c", "copy", out], check=True)
    return out


def get_json(url):
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def wait_until(page, expression, timeout):
    """Poll a JS expression (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.perf_counter() + timeout
    while not page.evaluate(expression):
        if time.perf_counter() > deadline:
            raise TimeoutError(expression)
        page.wait_for_timeout(20)


def page_timings(url, job_id, name):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/upload")
        page.evaluate("""([id, name]) => localStorage.setItem("emotion-recent-jobs",
            JSON.stringify([{id, name, created: Date.now()}]))""", [job_id, name])
        page.reload()
        page.evaluate("""() => { window.longest = 0; new PerformanceObserver((list) => {
            for (const entry of list.getEntries()) window.longest = Math.max(window.longest,
            entry.duration); }).observe({ type: "longtask", buffered: true }); }""")
        started = time.perf_counter()
        page.click("#recent a")
        wait_until(page, "document.querySelectorAll('#summary tr').length > 1", 120)
        drawn = time.perf_counter() - started
        longest = page.evaluate("window.longest")
        page.locator("#room-chart").scroll_into_view_if_needed()
        box = page.locator("#room-chart").bounding_box()
        started = time.perf_counter()
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        wait_until(page, "document.getElementById('result-video').currentTime > 100", 30)
        seek = time.perf_counter() - started
        browser.close()
    print(f"results view: drawn {drawn:.2f} s after opening the job; longest task "
          f"{longest:.0f} ms; a click on the room chart moved the player in {seek * 1e3:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=9.9)
    parser.add_argument("--no-page", action="store_true")
    args = parser.parse_args()
    print(cpu_summary())
    server, url, _ = start_server()
    try:
        with tempfile.TemporaryDirectory() as folder:
            people, _ = clips.people_clip(SAMPLES_DIR, folder)
            path = looped(people, args.minutes * 60, os.path.join(folder, "long.mp4"))
            print(f"clip: {os.path.getsize(path) / 1e6:.1f} MB, {args.minutes:g} minutes")
            started = time.perf_counter()
            status, body = videocheck.upload(url, path, timeout=300)
            assert status == 202, body
            job = videocheck.wait_finished(url, body["id"], timeout=7200)
            took = time.perf_counter() - started
            done_at = time.perf_counter()
            summary = get_json(f"{url}/api/videos/{body['id']}/summary")
            answered = time.perf_counter() - done_at
            results = get_json(f"{url}/api/videos/{body['id']}/results.json")
            started = time.perf_counter()
            again = summarize(results)
            recomputed = time.perf_counter() - started
            assert again == summary
            print(f"job: {job['status']} in {took:.0f} s for {job['frames_done']} frames "
                  f"({job['frames_done'] / took:.1f} frames/s); {len(results['rows'])} rows, "
                  f"{results['video']['tracks']} tracks, {results['video']['persons']} persons")
            print(f"summary: answered {answered * 1e3:.0f} ms after the job was done (the job "
                  f"writes it); computing it again from the results: {recomputed:.2f} s")
            if not args.no_page:
                page_timings(url, body["id"], "long.mp4")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
