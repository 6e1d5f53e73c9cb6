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
