"""The upload page in Chromium (Debian's) against the real server: the player
shows the annotated video as it is, frame for frame, and the page keeps the
owner token that deleting the job takes."""
import os
import time

import cv2
import numpy as np
import pytest

from testkit import clips
from testkit import videocheck
from conftest import ARTIFACTS_DIR, SAMPLES_DIR
from test_browser import (  # noqa: F401  (pytestmark and the fixture apply here too)
    launch_chromium, playwright_instance, pytestmark, wait_until,
)


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


def test_the_results_page_fits_a_phone(browser, server, clip):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(server.url + "/upload")
    page.set_input_files("#file", clip)
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    page.wait_for_timeout(500)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "results-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # the face chosen first is the one most in view
    options = page.eval_on_selector_all("#face-select option", "os => os.map(o => o.text)")
    seconds = [float(text.split("(")[1].split(" s")[0]) for text in options]
    assert seconds == sorted(seconds, reverse=True)
    page.close()


def test_the_room_chart_counts_the_faces_in_view_and_shares_their_emotions(browser, server,
                                                                           tmp_path):
    """A group photo held 2 s (five faces), then one person (2 s): the room chart's
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
    job_id = page.evaluate("JSON.parse(localStorage.getItem('emotion-recent-jobs'))[0].id")
    _, _, results = videocheck.download_results(server.url, job_id, tmp_path)
    datasets = page.evaluate("""() => Chart.getChart(document.getElementById('room-chart'))
        .data.datasets.map(d => ({label: d.label, y: d.data.map(p => p.y)}))""")
    by_label = {d["label"]: d["y"] for d in datasets}
    # the page's bins: half a second of frames (JavaScript's rounding), 400 bins at most
    video_info = results["video"]
    per_bin = max(int(video_info["fps"] / 2 + 0.5), -(-video_info["frames"] // 400))
    rows = results["rows"]
    frames = video_info["frames"]
    expected_faces = [sum(1 for r in rows if first <= r["frame"] < first + per_bin)
                      / min(per_bin, frames - first) for first in range(0, frames, per_bin)]
    assert by_label["faces in view"] == pytest.approx(expected_faces, abs=1e-6)
    assert max(expected_faces[:3]) >= 4 and expected_faces[-1] == pytest.approx(1, abs=0.2)
    for index, faces in enumerate(expected_faces):
        shares = [by_label[label][index] for label in by_label if label != "faces in view"]
        assert sum(shares) == pytest.approx(1.0 if faces else 0.0, abs=1e-6)
    happy = [r for r in rows if r["frame"] < per_bin]
    assert by_label["happy"][0] == pytest.approx(
        sum(r["emotion"] == "happy" for r in happy) / len(happy), abs=1e-6)
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

    offline = browser.new_context(offline=True)
    reader = offline.new_page()
    requests = []
    reader.on("request", lambda request: requests.append(request.url))
    reader.goto(report.as_uri())
    reader.wait_for_load_state("load")
    assert requests == [report.as_uri()]  # nothing but the file itself
    faces = len({row["face_id"] for row in rows})
    assert reader.locator("table tr").count() == faces + 1
    assert reader.locator("svg").count() == 1 + faces  # the room, and a strip per face
    pictures = reader.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.src.slice(0, 15), i.naturalWidth])")
    assert pictures and all(src == "data:image/jpeg" and width > 20 for src, width in pictures)
    reader.screenshot(path=os.path.join(ARTIFACTS_DIR, "report.png"), full_page=True)
    offline.close()
