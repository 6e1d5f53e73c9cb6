"""The upload page in Chromium (Debian's) against the real server: the player
shows the annotated video as it is, frame for frame, and the page keeps the
owner token that deleting the job takes; the review per person (timelines,
strongest moments, the table, the room chart) is the job's summary and takes the
player where it is clicked."""
import json
import math
import os
import time

import cv2
import numpy as np
import pytest

from testkit import clips
from testkit import videocheck
from conftest import ARTIFACTS_DIR, SAMPLES_DIR, shared_file
from test_browser import (  # noqa: F401  (pytestmark and the fixture apply here too)
    launch_chromium, open_offline, playwright_instance, pytestmark, wait_until,
)
from webapp.vision.summary import bin_frames, summarize


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The smiling sample clip where present, else a drawn one."""
    sample = os.path.join(SAMPLES_DIR, "clip_smile_liveportrait_d19.mp4")
    if os.path.isfile(sample):
        return sample
    return clips.drawn_clip(tmp_path_factory.mktemp("player") / "drawn.mp4", frames=60, fps=30,
                            size=(640, 480))


@pytest.fixture(scope="module")
def browser(playwright_instance):  # noqa: F811
    browser = launch_chromium(playwright_instance, [])
    yield browser
    browser.close()


def shown_picture(page):
    """A screenshot of the video element, cropped to the picture inside it."""
    box = page.evaluate("""() => {
        const v = document.getElementById('result-video');
        const r = v.getBoundingClientRect();
        const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
        const w = v.videoWidth * scale, h = v.videoHeight * scale;
        return {x: r.x + (r.width - w) / 2, y: r.y + (r.height - h) / 2, width: w, height: h};
    }""")
    png = page.screenshot(clip={key: round(value) for key, value in box.items()})
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_the_player_shows_the_annotated_video_as_decoded(browser, server, clip, tmp_path):
    errors = []
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/upload")
    page.set_input_files("#file", clip)
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    job_id = page.evaluate("JSON.parse(localStorage.getItem('emotion-recent-jobs'))[0].id")
    output, _, results = videocheck.download_results(server.url, job_id, tmp_path)
    frames = list(videocheck.decoded_frames(output))
    middle = len(frames) // 2
    fps = results["video"]["fps"]

    wait_until(page, "document.getElementById('result-video').readyState >= 2", timeout=30)
    page.evaluate(f"""() => {{
        const v = document.getElementById('result-video');
        v.pause();
        v.controls = false;  // the control bar would cover the bottom of the picture
        v.currentTime = {(middle + 0.5) / fps};
    }}""")
    wait_until(page, "!document.getElementById('result-video').seeking && "
                     "document.getElementById('result-video').readyState >= 2", timeout=30)
    page.wait_for_timeout(500)
    shown = shown_picture(page)
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    cv2.imwrite(os.path.join(ARTIFACTS_DIR, "player-middle-frame.png"), shown)

    def likeness(index):
        expected = cv2.resize(frames[index], (shown.shape[1], shown.shape[0]),
                              interpolation=cv2.INTER_AREA)
        return videocheck.psnr(shown, expected)

    assert likeness(middle) >= 25, f"{likeness(middle):.1f} dB"
    print(f"player vs decoded frame {middle}: {likeness(middle):.1f} dB")
    # The check can tell frames apart: the picture is closer to its own frame
    # than to frames a second away.
    assert likeness(middle) > max(likeness(max(0, middle - int(fps))),
                                  likeness(min(len(frames) - 1, middle + int(fps))))
    assert errors == []

    # The page kept the owner token: its Delete button deletes the job.
    page.click("#recent li button")
    deadline = time.time() + 10
    while videocheck.send(server.url, f"/api/videos/{job_id}", "GET") != 404:
        assert time.time() < deadline, "the job was not deleted"
        time.sleep(0.2)
    page.close()


def test_a_click_on_the_chart_seeks_the_player_to_the_frame_it_shows(browser, server, tmp_path):
    """The chart's clock is the player's, also for a video whose picture starts
    0.84 s after its sound: clicking the moment of a result row shows that row's frame."""
    errors = []
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/upload")
    page.set_input_files("#file", clips.picture_after_sound(tmp_path, delay=0.84, frames=60, size=(640, 480)))
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    job_id = page.evaluate("JSON.parse(localStorage.getItem('emotion-recent-jobs'))[0].id")
    output, _, results = videocheck.download_results(server.url, job_id, tmp_path)
    frames = list(videocheck.decoded_frames(output))
    assert results["video"]["video_start"] == pytest.approx(0.84, abs=0.05)
    row = results["rows"][len(results["rows"]) // 2]
    moment = results["video"]["video_start"] + row["time"]

    wait_until(page, "document.getElementById('result-video').readyState >= 2", timeout=30)
    page.evaluate("() => { const v = document.getElementById('result-video'); v.pause(); "
                  "v.controls = false; }")
    x, y = page.evaluate(f"""() => {{
        const chart = Chart.getChart(document.getElementById('chart'));
        const box = chart.canvas.getBoundingClientRect();
        return [box.x + chart.scales.x.getPixelForValue({moment} + 0.5 / {results['video']['fps']}),
                box.y + (chart.chartArea.top + chart.chartArea.bottom) / 2];
    }}""")
    page.mouse.click(x, y)
    wait_until(page, "!document.getElementById('result-video').seeking && "
                     "document.getElementById('result-video').readyState >= 2", timeout=30)
    page.wait_for_timeout(500)
    shown_time = page.evaluate("document.getElementById('result-video').currentTime")
    assert shown_time == pytest.approx(moment, abs=1 / results["video"]["fps"])
    shown = shown_picture(page)

    def likeness(index):
        expected = cv2.resize(frames[index], (shown.shape[1], shown.shape[0]),
                              interpolation=cv2.INTER_AREA)
        return videocheck.psnr(shown, expected)

    frame = row["frame"]
    assert likeness(frame) >= 25, f"{likeness(frame):.1f} dB"
    assert likeness(frame) > max(likeness(max(0, frame - 15)), likeness(min(len(frames) - 1,
                                                                            frame + 15)))
    # The playhead stands where the player is: a light line at that x on the chart.
    column = page.evaluate(f"""() => {{
        const chart = Chart.getChart(document.getElementById('chart'));
        const x = Math.round(chart.scales.x.getPixelForValue({shown_time}) * devicePixelRatio);
        const y = Math.round((chart.chartArea.top + 5) * devicePixelRatio);
        return Array.from(chart.ctx.getImageData(x - 1, y, 3, 1).data);
    }}""")
    assert max(column[0::4]) > 200, column
    assert errors == []
    page.close()


def test_the_room_chart_counts_the_faces_in_view_and_shares_their_emotions(browser, server,
                                                                           tmp_path):
    """A group photo held 2 s (six faces), then one person (2 s): the room chart's
    figures are those of the results JSON, bin by bin."""
    group = os.path.join(SAMPLES_DIR, "faces_group_selfie.jpg")
    smiling = os.path.join(SAMPLES_DIR, "clip_smile_liveportrait_d19.mp4")
    if not (os.path.isfile(group) and os.path.isfile(smiling)):
        pytest.skip("the shared sample photos and clips are not beside the repository")
    clip = clips.joined([group, smiling], tmp_path / "room.mp4", size=(1024, 768))
    page = browser.new_page(viewport={"width": 1100, "height": 1600})
    page.goto(server.url + "/upload")
    page.set_input_files("#file", clip)
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    wait_until(page, "document.querySelectorAll('#summary tr').length > 1")
    job_id = page.evaluate("JSON.parse(localStorage.getItem('emotion-recent-jobs'))[0].id")
    _, _, results = videocheck.download_results(server.url, job_id, tmp_path)
    datasets = page.evaluate("""() => Chart.getChart(document.getElementById('room-chart'))
        .data.datasets.map(d => ({label: d.label, y: d.data.map(p => p.y)}))""")
    by_label = {d["label"]: d["y"] for d in datasets}
    # the summary's bins: half a second of frames (Python's rounding), 400 bins at most
    video_info = results["video"]
    per_bin = bin_frames(video_info["frames"], video_info["fps"])
    rows = results["rows"]
    frames = video_info["frames"]
    expected_faces = [sum(1 for r in rows if first <= r["frame"] < first + per_bin)
                      / min(per_bin, frames - first) for first in range(0, frames, per_bin)]
    assert by_label["faces in view"] == pytest.approx(expected_faces, abs=1e-3)
    # all six people of the group photo (the video's full scans look in tiles too)
    assert max(expected_faces[:3]) >= 5.9 and expected_faces[-1] == pytest.approx(1, abs=0.2)
    for index, faces in enumerate(expected_faces):
        shares = [by_label[label][index] for label in by_label if label != "faces in view"]
        assert sum(shares) == pytest.approx(1.0 if faces else 0.0, abs=1e-3)
    happy = [r for r in rows if r["frame"] < per_bin]
    assert by_label["happy"][0] == pytest.approx(
        sum(r["emotion"] == "happy" for r in happy) / len(happy), abs=1e-4)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "room-chart.png"), full_page=True)

    # The room chart as a PNG, and the report: one HTML file that opens offline.
    with page.expect_download() as info:
        page.click("#download-room")
    assert info.value.suggested_filename == "room-room.png"
    assert open(info.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with page.expect_download(timeout=60_000) as info:
        page.click("#download-report")
    assert info.value.suggested_filename == "room-report.html"
    report = tmp_path / "report.html"
    report.write_bytes(open(info.value.path(), "rb").read())
    page.close()

    reader, offline = open_offline(browser, report)
    persons = len({row["person_id"] for row in rows})
    assert reader.locator("table tr").count() == persons + 1
    assert reader.locator("svg").count() == 1 + persons  # the room, and a strip per person
    pictures = reader.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.src.slice(0, 15), i.naturalWidth])")
    assert pictures and all(src == "data:image/jpeg" and width > 20 for src, width in pictures)
    reader.screenshot(path=os.path.join(ARTIFACTS_DIR, "report.png"), full_page=True)
    offline.close()


# ---- the review per person, on a clip of four known people ----

@pytest.fixture(scope="module")
def people_job(server, tmp_path_factory):
    """The people clip (4 people joined with cuts and returns) processed once:
    {"id", "token", "results", "summary"}."""
    shared_file("samples", "clip_talking_head_tps_driving.mp4")
    folder = tmp_path_factory.mktemp("people")
    path, _ = clips.people_clip(SAMPLES_DIR, folder)
    status, body = videocheck.upload(server.url, path, name="people.mp4")
    assert status == 202, body
    job = videocheck.wait_finished(server.url, body["id"])
    assert job["status"] == "done", job
    _, _, results = videocheck.download_results(server.url, body["id"], folder)
    summary = json.loads(videocheck.get(server.url, f"/api/videos/{body['id']}/summary"))
    return {"id": body["id"], "token": body["token"], "results": results, "summary": summary}


def open_job(browser, server, job, errors, viewport=None):
    """The upload page showing the job's results, opened from this browser's list of
    recent jobs, once its per-person views are drawn."""
    page = browser.new_page(viewport=viewport or {"width": 1100, "height": 1400})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    recent = json.dumps([{"id": job["id"], "token": job["token"], "name": "people.mp4",
                          "created": int(time.time() * 1000)}])
    page.add_init_script(f"try {{ localStorage.setItem('emotion-recent-jobs', {json.dumps(recent)}); }}"
                         " catch { /* a page without storage */ }")
    page.goto(server.url + "/upload")
    page.click("#recent li a")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    wait_until(page, f"document.querySelectorAll('#summary tr').length === "
                     f"{len(job['summary']['persons']) + 1}")
    wait_until(page, "document.getElementById('result-video').readyState >= 2")
    page.evaluate("document.getElementById('result-video').pause()")
    return page


def player_time(page):
    wait_until(page, "!document.getElementById('result-video').seeking")
    return page.evaluate("document.getElementById('result-video').currentTime")


def percent(share):
    """JavaScript's Math.round(share * 100), as the page writes shares."""
    return f"{math.floor(share * 100 + 0.5)}%"


def in_view(results, seconds):
    """The person ids with a row within a frame of the player's time."""
    video = results["video"]
    frame = math.floor((seconds - video["video_start"]) * video["fps"] + 1e-6)
    return {str(r["person_id"]) for r in results["rows"] if abs(r["frame"] - frame) <= 1}


def test_a_strongest_moment_and_a_point_on_a_timeline_take_the_player_there(
        browser, server, people_job):
    errors = []
    page = open_job(browser, server, people_job, errors)
    results, summary = people_job["results"], people_job["summary"]
    person = summary["persons"][1]
    moment = person["moments"][-1]
    button = page.locator(f"#people .person[data-person='{person['person_id']}'] button.moment").last
    assert button.text_content() == (f"{moment['time']:.1f} s {moment['emotion']} "
                                     f"{percent(moment['confidence'])}")
    button.click()
    seconds = player_time(page)
    assert seconds == pytest.approx(moment["time"], abs=1 / results["video"]["fps"])
    # the people in view at that moment are marked, on their timeline and in the table
    expected = in_view(results, seconds)
    assert str(person["person_id"]) in expected
    wait_until(page, "document.querySelectorAll('#people .person.in-view').length === "
                     f"{len(expected)}")
    marked = {selector: sorted(page.eval_on_selector_all(selector, "ns => ns.map(n => n.dataset.person)"))
              for selector in ("#people .person.in-view", "#summary tr.in-view")}
    assert marked == dict.fromkeys(marked, sorted(expected))
    assert page.is_visible(f"#people .person[data-person='{person['person_id']}'] .in-view-badge")

    # a click on another person's strip, 30% along: the player's clock at 30% of the video
    other = summary["persons"][2]["person_id"]
    strip = page.locator(f"#people .person[data-person='{other}'] .strip")
    strip.scroll_into_view_if_needed()
    box = strip.bounding_box()
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + box["height"] / 2)
    end = summary["video_start"] + summary["frames"] / summary["fps"]
    seconds = player_time(page)
    assert seconds == pytest.approx(0.3 * end, abs=end / box["width"] + 0.01)
    left = page.eval_on_selector(f"#people .person[data-person='{other}'] .playhead",
                                 "p => parseFloat(p.style.left)")
    assert left == pytest.approx(100 * seconds / end, abs=0.1)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "results-people.png"), full_page=True)
    assert errors == []
    page.close()


def test_the_people_table_timelines_and_room_chart_are_the_summarys(browser, server, people_job):
    errors = []
    page = open_job(browser, server, people_job, errors)
    summary = people_job["summary"]
    assert len(summary["persons"]) == 4
    labels = [*summary["labels"], "uncertain"]
    table = page.eval_on_selector_all("#summary tr",
                                      "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert table[0] == ["person", "in view", *labels, "dominant", "attending"]
    assert table[1:] == [[f"Person {p['person_id']}", f"{p['seconds_in_view']:.1f} s",
                          *[percent(p["shares"][label]) for label in labels], p["dominant"],
                          "–" if p["attending"] is None else percent(p["attending"])]
                         for p in summary["persons"]]
    timelines = page.eval_on_selector_all(
        "#people .person", "ps => ps.map(p => [p.dataset.person, p.querySelectorAll('.moment').length])")
    assert timelines == [[str(p["person_id"]), len(p["moments"])] for p in summary["persons"]]
    # the probability chart shows the person most in view, one point per row of theirs
    assert page.eval_on_selector("#person-select", "s => s.selectedIndex") == 0
    points = page.evaluate("Chart.getChart('chart').data.datasets.map(d => d.data.filter(p => p.y !== null).length)")
    assert points == [summary["persons"][0]["frames"]] * len(summary["labels"])
    # the room chart: the summary's room, bin by bin
    room = page.evaluate("""() => Chart.getChart('room-chart').data.datasets.map(
        d => ({label: d.label, x: d.data.map(p => p.x), y: d.data.map(p => p.y)}))""")
    assert [d["label"] for d in room] == [*labels, "faces in view"]
    assert all(d["x"] == summary["room"]["times"] for d in room)
    assert [d["y"] for d in room] == [*(summary["room"]["shares"][label] for label in labels),
                                      summary["room"]["faces"]]
    assert errors == []
    page.close()


def test_the_pages_summarize_is_the_servers(browser, server, people_job):
    """REPORT.summarize (the port the live page uses) on the job's results JSON gives
    the server's /summary, and Python's summarize's figures on a picture that starts
    0.0625 s after its sound (a rounding tie)."""
    errors = []
    page = open_job(browser, server, people_job, errors)
    results = people_job["results"]
    in_page = """(results) => JSON.stringify(REPORT.summarize(results.rows, results.video.frames,
        results.video.fps, results.video.video_start))"""
    assert json.loads(page.evaluate(in_page, results)) == people_job["summary"]
    late = dict(results, video=dict(results["video"], video_start=0.0625))
    assert json.loads(page.evaluate(in_page, late)) == json.loads(json.dumps(summarize(late)))
    assert errors == []
    page.close()


def test_the_results_page_fits_a_phone(browser, server, people_job):
    errors = []
    page = open_job(browser, server, people_job, errors,
                    viewport={"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "results-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.body.scrollWidth") <= 390
    # the person chosen first is the one most in view
    options = page.eval_on_selector_all("#person-select option", "os => os.map(o => o.text)")
    seconds = [float(text.split("(")[1].split(" s")[0]) for text in options]
    assert len(seconds) == 4 and seconds == sorted(seconds, reverse=True)
    assert errors == []
    page.close()


def test_a_done_job_is_shown_once_and_the_player_keeps_its_place(browser, server, people_job):
    """The job's "done" arrives as the watch's answer and as a pushed event: the
    results must load once, or the player reloads under a visitor already reviewing."""
    errors = []
    page = open_job(browser, server, people_job, errors)
    page.evaluate("document.getElementById('result-video').currentTime = 5")
    page.wait_for_timeout(3000)  # past the job watcher's next push and a poll
    loads = page.evaluate("performance.getEntriesByType('resource')"
                          ".filter((e) => e.name.endsWith('/results.json')).length")
    assert loads == 1
    assert player_time(page) == pytest.approx(5, abs=0.05)
    assert errors == []
    page.close()
