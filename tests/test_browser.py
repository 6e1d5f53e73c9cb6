"""The pages in real Chromium (Debian's, never a browser Playwright downloads), with a
fake webcam fed from a face video: the overlay must show a box and an emotion label;
failures (an encoder that yields no frame, a proxy's error page) must not stop a page."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import ARTIFACTS_DIR, SAMPLES_DIR
from testkit import clips
from testkit.synthetic import scene, write_y4m
from webapp.vision import quality
from webapp.vision.preprocess import EMOTIONS

# Debian's chromium (or CHROMIUM=/path/to/chrome), always passed to Playwright as
# executable_path: Playwright's own browser download is not used.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FACE_CLIP = os.path.join(SAMPLES_DIR, "clip_smile_liveportrait_d19.mp4")

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: apt-get install --no-install-recommends chromium "
           f"(or set CHROMIUM to a Chromium or Chrome binary)")


def clip_to_y4m(clip, path, seconds=6, fps=15, extra_filter=None):
    """Convert a face clip to 640x480 Y4M, which Chromium's fake camera plays in a loop."""
    import imageio_ffmpeg

    filters = f"scale=-2:480,pad=640:480:(ow-iw)/2:0,fps={fps}"
    if extra_filter:
        filters += "," + extra_filter
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", clip,
                    "-t", str(seconds), "-vf", filters, "-pix_fmt", "yuv420p", path], check=True)


@pytest.fixture(scope="module")
def fake_camera_video(tmp_path_factory):
    """A Y4M of the real face clip where ../shared is present, else of a drawn face."""
    path = str(tmp_path_factory.mktemp("camera") / "camera.y4m")
    if os.path.isfile(FACE_CLIP):
        clip_to_y4m(FACE_CLIP, path)
    else:
        frames = [scene(640, 480, faces=((140 + 2 * (i % 10), 60, 360),)) for i in range(30)]
        write_y4m(path, frames)
    return path


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch_chromium(playwright, args):
    """Debian's Chromium, headless; a failure names that binary, not Playwright's download."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS + args)
    except PlaywrightError as error:
        reason = str(error).splitlines()[0]
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {reason}", pytrace=False)


@pytest.fixture(scope="module")
def browser(playwright_instance, fake_camera_video):
    """Chromium whose camera is the fake device playing the face video, allowed."""
    browser = launch_chromium(playwright_instance, [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_camera_video}"])
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def denying_browser(playwright_instance):
    """Chromium that denies every permission prompt, the camera's included."""
    browser = launch_chromium(playwright_instance, [
        "--use-fake-device-for-media-stream", "--deny-permission-prompts"])
    yield browser
    browser.close()


def wait_until(page, expression, timeout=30):
    """Poll a JS expression from Python. (Playwright's wait_for_function evaluates
    its predicate with eval inside the page, which the pages' CSP forbids.)"""
    deadline = time.time() + timeout
    while not page.evaluate(expression):
        assert time.time() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(100)


def overlay_painted_pixels(page):
    return page.evaluate("""() => {
        const canvas = document.getElementById('overlay');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return painted;
    }""")


def start_camera(page):
    """Press Start unless the page started the camera by itself (permission granted)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector("#stop:enabled", timeout=3000)
    except PlaywrightTimeout:
        page.click("#start")


# Records every face id the live page lists, from its first result on (an init
# script runs before the page's own and is not subject to its CSP).
RECORD_FACE_IDS = """
window.__faceIdsShown = [];
new MutationObserver(() => {
  for (const item of document.querySelectorAll("#faces li")) {
    window.__faceIdsShown.push(item.dataset.faceId);
  }
}).observe(document, { childList: true, subtree: true });
"""


def open_live_page(browser, live_server, errors, init_script=None):
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    if init_script:
        page.add_init_script(init_script)
    page.goto(live_server.url + "/")
    start_camera(page)
    page.wait_for_selector("#faces li", timeout=60_000)
    return page


def test_live_page_shows_box_label_bars_and_status(browser, live_server):
    errors = []
    page = open_live_page(browser, live_server, errors)
    wait_until(page, "document.getElementById('fps').textContent !== '– fps'", timeout=30)
    # The smile clip has a stretch the model finds ambiguous ("? ambiguous
    # expression"): wait for a labelled moment, which the clip reaches within its loop.
    labelled = " || ".join(f"title.includes(': {emotion} ')" for emotion in EMOTIONS)
    wait_until(page, "(() => { const title = document.querySelector('#faces li .face-title')"
                     f".textContent; return {labelled}; }})()", timeout=15)
    bar_widths = page.eval_on_selector_all(
        "#faces li:first-child .bar span", "spans => spans.map(s => parseFloat(s.style.width))")
    assert len(bar_widths) == 7 and abs(sum(bar_widths) - 100) < 2
    assert page.text_content("#connection") == "connected"
    assert page.text_content("#fps").endswith(" fps")
    assert page.text_content("#latency").endswith(" ms")
    assert overlay_painted_pixels(page) > 500  # a box outline and a label tag
    page.wait_for_timeout(2000)  # let a few more results and the timeline fill in
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "live.png"))
    assert errors == []
    page.close()


def test_two_pages_at_once_each_get_their_own_face_ids(browser, live_server):
    """Ids are numbered per connection: each page's first face is 1, though the other page
    has faces too. (Only the first id is compared: a face's id changes when the page steps
    its frame size down on a slow round trip, so later ids depend on the machine's load.)"""
    errors = []
    pages = [open_live_page(browser, live_server, errors, RECORD_FACE_IDS) for _ in range(2)]
    for page in pages:
        shown = page.evaluate("window.__faceIdsShown")
        assert shown and shown[0] == "1", shown
    assert page.evaluate("document.querySelectorAll('#faces li').length") >= 1
    assert errors == []
    for page in pages:
        page.close()


# The first canvas.toBlob call yields no blob, as a browser's encoder may.
FIRST_BLOB_IS_NULL = """
window.__nullBlobs = 0;
window.__blobs = 0;
const realToBlob = HTMLCanvasElement.prototype.toBlob;
HTMLCanvasElement.prototype.toBlob = function (callback, ...rest) {
  if (window.__nullBlobs === 0) {
    window.__nullBlobs += 1;
    setTimeout(() => callback(null), 0);
    return;
  }
  window.__blobs += 1;
  return realToBlob.call(this, callback, ...rest);
};
"""


def test_a_frame_that_cannot_be_encoded_is_skipped_and_the_stream_goes_on(browser, live_server):
    errors = []
    page = open_live_page(browser, live_server, errors, FIRST_BLOB_IS_NULL)
    assert page.evaluate("window.__nullBlobs") == 1
    blobs = page.evaluate("window.__blobs")
    wait_until(page, f"window.__blobs > {blobs + 5}", timeout=30)  # frames keep going
    assert page.text_content("#connection") == "connected"
    assert page.is_hidden("#message")
    assert errors == []
    page.close()


def test_snapshot_downloads_a_png(browser, live_server):
    page = open_live_page(browser, live_server, [])
    with page.expect_download() as download_info:
        page.click("#snapshot")
    path = download_info.value.path()
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    page.close()


def test_after_stop_nothing_of_the_stream_stays_drawn(browser, live_server):
    """Stopped with a frame in flight or not, eight times: its answer is not drawn, and
    the box, the face panel and the live figures are cleared."""
    errors = []
    page = open_live_page(browser, live_server, errors)
    for attempt in range(8):
        if attempt:
            page.click("#start")
            page.wait_for_selector("#faces li", timeout=30_000)
        page.wait_for_timeout(100 + 37 * attempt)  # stop at different points of a frame
        page.click("#stop")
        page.wait_for_timeout(700)  # an answer in flight at the stop has come back by now
        assert overlay_painted_pixels(page) == 0, f"attempt {attempt}: a box is still drawn"
        assert page.evaluate("document.querySelectorAll('#faces li').length") == 0
        assert page.text_content("#fps") == "– fps"
        assert page.text_content("#latency") == "– ms"
        assert page.is_visible("#stage-hint")
    assert errors == []
    page.close()


@pytest.fixture(scope="module")
def dark_camera_browser(playwright_instance, tmp_path_factory):
    """Chromium whose fake camera plays the face clip in a room nearly without light."""
    if not os.path.isfile(FACE_CLIP):
        pytest.skip(f"{FACE_CLIP} is not available: the shared sample folder is not beside the "
                    "repository")
    path = str(tmp_path_factory.mktemp("dark") / "dark.y4m")
    clip_to_y4m(FACE_CLIP, path, extra_filter=clips.dim_filter())
    browser = launch_chromium(playwright_instance, [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={path}"])
    yield browser
    browser.close()


def test_a_face_in_the_dark_is_drawn_grey_with_its_reason(dark_camera_browser, live_server):
    """The face of a room nearly without light is found, but its label is held back:
    the page says why, and blames the picture: the face smiles, its expression is not
    ambiguous, the room is too dark to be sure of it."""
    errors = []
    page = open_live_page(dark_camera_browser, live_server, errors)
    wait_until(page, "document.querySelector('#faces li .face-title')"
                     ".textContent.includes('?')", timeout=30)
    grey = page.evaluate("""() => {
        const canvas = document.getElementById('overlay');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let grey = 0;
        for (let i = 0; i < data.length; i += 4)
            if (data[i + 3] > 200 && Math.abs(data[i] - 0x8a) < 6 && Math.abs(data[i + 1] - 0x8f) < 6
                && Math.abs(data[i + 2] - 0x96) < 6) grey++;
        return grey;
    }""")
    assert grey > 300  # the box and the label's tag in the uncertain grey
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "live-uncertain.png"))
    titles = []
    for _ in range(30):  # 3 s of titles: each one withheld blames the picture
        titles.append(page.text_content("#faces li .face-title"))
        page.wait_for_timeout(100)
    picture = [*quality.REASONS.values(), *quality.DOUBTS.values()]
    withheld = [title for title in titles if "?" in title]
    assert withheld and all(any(reason in title for reason in picture) for title in withheld), titles
    assert errors == []
    page.close()


def open_offline(browser, path):
    """A downloaded file opened in a context with no network, which it does not
    ask for anything but itself: (its page, the context)."""
    offline = browser.new_context(offline=True)
    reader = offline.new_page()
    requests = []
    reader.on("request", lambda request: requests.append(request.url))
    reader.goto(path.as_uri())
    reader.wait_for_load_state("load")
    assert requests == [path.as_uri()]  # nothing but the file itself
    return reader, offline


def test_a_live_session_downloads_as_a_videos_results_and_leaves_nothing_on_the_server(
        browser, live_server, tmp_path):
    import csv
    import io
    import json

    from webapp.video import CSV_COLUMNS
    from webapp.vision.summary import summarize

    before = live_server.job_files()
    errors = []
    page = open_live_page(browser, live_server, errors)
    page.wait_for_timeout(2500)
    page.click("#stop")
    downloads = {}
    for kind in ("json", "csv"):
        with page.expect_download() as info:
            page.click(f"#download-session-{kind}")
        downloads[kind] = open(info.value.path(), encoding="utf-8").read()
        assert info.value.suggested_filename.startswith("live-session-")
    body = json.loads(downloads["json"])
    rows = body["rows"]
    assert len(rows) >= 10 and all(list(row) == CSV_COLUMNS for row in rows)
    assert body["video"]["source"] == "live" and body["video"]["frames"] >= len({r["frame"] for r in rows})
    assert [r["frame"] for r in rows] == sorted(r["frame"] for r in rows)
    assert rows[-1]["time"] >= 1.5 and all(abs(sum(r[e] for r in [row] for e in EMOTIONS) - 1) < 0.01
                                          for row in rows)
    table = list(csv.reader(io.StringIO(downloads["csv"])))
    assert table[0] == CSV_COLUMNS and len(table) == len(rows) + 1
    assert [int(line[0]) for line in table[1:]] == [r["frame"] for r in rows]

    # Each row names its person; the summary is the rows' own (as the server computes
    # it for a video: fps is the answered frames over the session's duration).
    assert all(isinstance(row["person_id"], int) for row in rows)
    video = body["video"]
    assert video["fps"] == pytest.approx(video["frames"] / video["duration"])
    summary = body["summary"]
    assert summary == json.loads(json.dumps(summarize(body)))
    persons = [p["person_id"] for p in summary["persons"]]
    assert persons and video["persons"] == len(persons) == len({r["person_id"] for r in rows})
    shown = page.eval_on_selector_all("#session-people .person", "ps => ps.map(p => p.dataset.person)")
    assert shown == [str(p) for p in persons]
    assert page.locator("#session-summary tr").count() == len(persons) + 1
    room = page.evaluate("Chart.getChart('session-room').data.datasets.at(-1).data.map(p => p.y)")
    assert room == summary["room"]["faces"]
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "live-session.png"), full_page=True)

    # The room chart as a PNG, and the report: one HTML file that opens offline.
    with page.expect_download() as info:
        page.click("#download-session-room")
    assert info.value.suggested_filename.startswith("live-session-")
    assert open(info.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as info:
        page.click("#download-session-report")
    assert info.value.suggested_filename.endswith("-report.html")
    report = tmp_path / "live-report.html"
    report.write_bytes(open(info.value.path(), "rb").read())
    assert live_server.job_files() == before  # the server kept nothing of it
    assert errors == []
    page.close()

    reader, offline = open_offline(browser, report)
    assert reader.locator("table tr").count() == len(persons) + 1
    titles = reader.eval_on_selector_all("section.person h3", "hs => hs.map(h => h.textContent)")
    assert [title.split(":")[0] for title in titles] == [f"Person {p}" for p in persons]
    assert reader.locator("svg").count() == 1 + len(persons)  # the room, and a strip per person
    reader.screenshot(path=os.path.join(ARTIFACTS_DIR, "live-report.png"), full_page=True)
    offline.close()


def test_the_face_panel_says_how_much_of_the_session_a_face_attended(browser, live_server):
    page = open_live_page(browser, live_server, [])
    wait_until(page, "document.querySelector('#faces li .face-note').textContent !== ''",
               timeout=30)
    note = page.text_content("#faces li .face-note")
    share = int(note.split("attending ")[1].split("%")[0])
    assert 0 <= share <= 100 and note.endswith("% of the session")
    page.close()


def test_first_visit_says_to_press_start_camera(denying_browser, live_server):
    page = denying_browser.new_page()
    page.goto(live_server.url + "/")
    assert page.is_visible("#stage-hint")
    # as rendered: the words around the bold button name keep their spaces
    assert "Press Start camera to begin" in page.inner_text("#stage-hint")
    assert "No face yet" not in page.text_content(".panel")
    page.close()


def test_denied_camera_permission_shows_how_to_fix_it(denying_browser, live_server):
    page = denying_browser.new_page()
    page.goto(live_server.url + "/")
    page.click("#start")
    page.wait_for_selector("#message:not([hidden])", timeout=15_000)
    assert "permission was denied" in page.text_content("#message")
    assert page.is_enabled("#start")
    page.close()


@pytest.fixture(scope="module")
def upload_clip(tmp_path_factory):
    """The talking-head sample (it has audio) where present, else a drawn clip."""
    from testkit import clips

    sample = os.path.join(SAMPLES_DIR, "clip_talking_head_tps_driving.mp4")
    if os.path.isfile(sample):
        return sample
    return clips.drawn_clip(tmp_path_factory.mktemp("upload") / "drawn.mp4")


def test_upload_page_processes_a_video_plays_it_and_draws_the_chart(browser, live_server,
                                                                      upload_clip):
    errors = []
    page = browser.new_page(viewport={"width": 1100, "height": 1700})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/upload")
    page.set_input_files("#file", upload_clip)
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    assert page.text_content("#job-status") == "done"
    # The annotated H.264 video loads and plays in Chromium.
    wait_until(page, "document.getElementById('result-video').readyState >= 2", timeout=30)
    page.evaluate("document.getElementById('result-video').muted = true")
    page.evaluate("document.getElementById('result-video').play()")
    wait_until(page, "document.getElementById('result-video').currentTime > 0.5", timeout=30)
    duration = page.evaluate("document.getElementById('result-video').duration")
    assert duration > 1.5
    # The chart has data for the face, and the summary table a row per face.
    points = page.evaluate("Chart.getChart('chart').data.datasets.map(d => d.data.length)")
    assert len(points) == 7 and min(points) > 10
    assert page.locator("#summary tr").count() >= 2
    assert page.locator("#recent li").count() >= 1
    page.evaluate("document.getElementById('result-video').pause()")
    page.wait_for_timeout(300)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "upload.png"))
    assert errors == []
    page.close()


NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def answer_502(route):
    """A reverse proxy's HTML error page, for POSTs only."""
    if route.request.method != "POST":
        return route.continue_()
    return route.fulfill(status=502, content_type="text/html", body=NGINX_502)


@pytest.fixture()
def face_photo(tmp_path):
    from testkit.synthetic import jpeg

    path = tmp_path / "face.jpg"
    path.write_bytes(jpeg(scene(640, 480)))
    return str(path)


def open_upload_page(browser, live_server, errors):
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/upload")
    return page


def test_the_upload_page_says_when_the_sound_track_was_left_out(browser, live_server, tmp_path):
    from testkit import clips

    drawn = clips.drawn_clip(tmp_path / "drawn.mp4", frames=20)
    damaged = clips.with_damaged_stream(drawn, tmp_path / "damaged-audio.mp4", "a")
    errors = []
    page = open_upload_page(browser, live_server, errors)
    page.set_input_files("#file", damaged)
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    assert page.text_content("#job-status") == "done"
    wait_until(page, "document.getElementById('result-video').readyState >= 2", timeout=30)
    assert page.text_content("#message") == (
        "The video's sound track is damaged: the annotated video has no sound.")
    assert page.is_visible("#message")
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "upload-no-sound.png"))
    assert errors == []
    page.close()


def test_a_proxy_error_page_for_a_photo_shows_an_error_and_the_page_stays_usable(
        browser, live_server, face_photo):
    errors = []
    page = open_upload_page(browser, live_server, errors)
    page.route("**/api/analyze", answer_502)
    page.set_input_files("#file", face_photo)
    page.wait_for_selector("#message:not([hidden])", timeout=15_000)
    assert "HTTP 502" in page.text_content("#message")
    assert page.is_hidden("#job")
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "upload-502.png"))
    page.unroute("**/api/analyze")
    page.set_input_files("#file", face_photo)  # the same file, again
    page.wait_for_selector("#photo-result:not([hidden])", timeout=30_000)
    assert page.text_content("#job-status") == "1 face(s)"
    assert page.is_hidden("#message")
    assert errors == []  # no unhandled rejection
    page.close()


def test_a_group_photos_labels_are_readable_and_cover_no_other_face(browser, live_server):
    """The group photo (six people, five faces of about 100 px in 2048 px) on the
    upload page: inside every face's box the annotated picture is the photo itself,
    no label painted over it; each label is written near its own face."""
    import base64

    import cv2
    import numpy as np
    import requests

    path = os.path.join(SAMPLES_DIR, "faces_group_selfie.jpg")
    if not os.path.isfile(path):
        pytest.skip(f"{path} is not available: the shared sample folder is not beside the repository")
    errors = []
    page = open_upload_page(browser, live_server, errors)
    page.set_input_files("#file", path)
    page.wait_for_selector("#photo-result:not([hidden])", timeout=60_000)
    assert page.text_content("#job-status") == "6 face(s)"
    with open(path, "rb") as f:  # the same answer the page drew (one model, one photo)
        faces = requests.post(live_server.url + "/api/analyze", timeout=60,
                              files={"image": ("group.jpg", f.read(), "image/jpeg")}).json()["faces"]
    assert len(faces) == 6
    png = page.evaluate("document.getElementById('photo-canvas').toDataURL('image/png').split(',')[1]")
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_COLOR)
    photo = cv2.imread(path)
    assert drawn.shape == photo.shape
    line = max(2, round(min(photo.shape[:2]) / 240))
    for face in faces:
        x, y, w, h = face["box"]
        inside = (slice(y + line, y + h - line), slice(x + line, x + w - line))
        changed = np.abs(drawn[inside].astype(int) - photo[inside]).max(axis=2) > 60
        assert changed.mean() < 0.02, (face["id"], face["box"], changed.mean())
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "photo-group.png"), full_page=True)
    assert errors == []
    page.close()


def test_a_proxy_error_page_for_a_video_shows_an_error_and_the_page_stays_usable(
        browser, live_server, upload_clip):
    errors = []
    page = open_upload_page(browser, live_server, errors)
    page.route("**/api/videos", answer_502)
    page.set_input_files("#file", upload_clip)
    page.wait_for_selector("#message:not([hidden])", timeout=30_000)
    assert "HTTP 502" in page.text_content("#message")
    assert page.is_hidden("#job")
    page.unroute("**/api/videos")
    page.set_input_files("#file", upload_clip)
    page.wait_for_selector("#processing:not([hidden])", timeout=30_000)
    assert page.is_hidden("#message")
    page.click("#cancel")  # the job is not needed: free the server for the next tests
    wait_until(page, "['cancelled', 'done'].includes("
                     "document.getElementById('job-status').textContent)")
    assert errors == []
    page.close()
