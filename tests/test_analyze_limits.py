"""/api/analyze's own limits: a small body limit with a clear 413, decoding
off the event loop in its own lane, and a "busy" answer when that lane is full."""
import io

import pytest
import requests

from conftest import ServerProcess
from testkit.synthetic import jpeg, scene
from webapp.offload import Busy, Lane


@pytest.fixture(scope="module")
def server():
    process = ServerProcess({"MAX_IMAGE_BYTES": str(1024 * 1024)})
    yield process
    process.stop()


def test_body_over_the_image_limit_is_413_with_the_limit(server):
    big = b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024)
    response = requests.post(server.url + "/api/analyze",
                             files={"image": ("big.jpg", io.BytesIO(big), "image/jpeg")},
                             timeout=30)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and str(1024 * 1024) in error["message"]
    assert server.alive()


def test_image_under_the_limit_is_analysed_by_the_real_server(server):
    response = requests.post(server.url + "/api/analyze",
                             files={"image": ("face.jpg", jpeg(scene(640, 480)), "image/jpeg")},
                             timeout=30)
    assert response.status_code == 200 and len(response.json()["faces"]) == 1


def test_full_photo_lane_answers_503_busy(tmp_path):
    from webapp.app import create_app

    app = create_app({"ASYNC_MODE": "threading", "TESTING": True, "START_JOB_WORKERS": False,
                      "JOBS_DIR": str(tmp_path / "jobs"), "MAX_ANALYZE_IN_FLIGHT": 0})
    response = app.test_client().post(
        "/api/analyze", data={"image": (io.BytesIO(jpeg(scene(320, 240))), "face.jpg")})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "busy"


def test_lane_admits_up_to_its_capacity():
    lane = Lane(lambda fn, *args: fn(*args), 1, "tests")
    assert lane.run(lambda: lane.in_flight) == 1
    with pytest.raises(Busy, match="busy with tests"):
        lane.run(lambda: lane.run(lambda: None))
    assert lane.in_flight == 0
