"""The live page in real Chromium (Debian's), with a fake webcam fed from a
face video: the overlay must show a box and an emotion label."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ARTIFACTS_DIR, SAMPLES_DIR
from synthetic import scene, write_y4m
from webapp.vision.preprocess import EMOTIONS

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FACE_CLIP = os.path.join(SAMPLES_DIR, "clip_smile_liveportrait_d19.mp4")

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Chromium is not installed (apt-get install chromium)")


def clip_to_y4m(clip, path, seconds=6, fps=15):
    """Convert a face clip to 640x480 Y4M, which Chromium's fake camera plays in a loop."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", clip,
                    "-t", str(seconds), "-vf",
                    f"scale=-2:480,pad=640:480:(ow-iw)/2:0,fps={fps}", "-pix_fmt", "yuv420p",
                    path], check=True)


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


@pytest.fixture(scope="module")
def browser(fake_camera_video):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={fake_camera_video}"],
        )
        yield browser
        browser.close()


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


def test_live_page_shows_a_box_and_an_emotion_for_the_face(browser, live_server):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server.url + "/")
    start_camera(page)
    page.wait_for_selector("#faces li", timeout=60_000)
    page.wait_for_function("document.getElementById('fps').textContent !== '– fps'",
                           timeout=30_000)
    label = page.text_content("#faces li")
    assert any(f": {emotion} " in label for emotion in EMOTIONS), label
    assert page.text_content("#connection") == "connected"
    assert overlay_painted_pixels(page) > 500  # a box outline and a label tag
    page.wait_for_timeout(1500)  # let a few more results arrive before the picture
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, "live.png"))
    assert console_errors == []
    page.close()
