"""POST /api/analyze through the Flask test client."""
import io

from testkit.synthetic import jpeg, no_face_scene, scene
from webapp.vision.preprocess import EMOTIONS


def post_image(client, data, field="image", name="photo.jpg"):
    return client.post("/api/analyze", data={field: (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_face_image_gives_faces(client):
    response = post_image(client, jpeg(scene(640, 480)))
    assert response.status_code == 200
    faces = response.get_json()["faces"]
    assert len(faces) == 1 and faces[0]["emotion"] in [*EMOTIONS, "uncertain"]  # a cartoon


def test_no_face_image_gives_empty_list(client):
    response = post_image(client, jpeg(no_face_scene()))
    assert response.status_code == 200
    assert response.get_json()["faces"] == []


def test_missing_field_is_400(client):
    response = post_image(client, jpeg(scene()), field="photo")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_field"


def test_non_image_is_415(client):
    response = post_image(client, b"%PDF-1.4 not an image", name="photo.jpg")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "not_an_image"


def test_image_over_the_pixel_limit_is_413(app):
    app.config["MAX_IMAGE_PIXELS"] = 100 * 100
    response = post_image(app.test_client(), jpeg(scene(640, 480)))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_live_page_is_served_with_its_scripts(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b'id="overlay"' in page.data
    assert client.get("/static/vendor/socket.io.min.js").status_code == 200
    assert client.get("/static/js/live.js").status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"model": "ok", "job_store": "ok"}


def test_pages_carry_strict_security_headers(client):
    for path in ("/", "/upload", "/api/videos/unknown-id-0000000000"):
        headers = client.get(path).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_pages_have_no_inline_script_or_style(client):
    """Nothing inline that runs (the CSP forbids it): scripts come from files; the one
    inline block is data, the settings the scripts read."""
    import json
    import re

    from webapp.vision.palette import FACE_COLOURS

    for path in ("/", "/upload"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r'<script(?![^>]*\b(src=|type="application/json"))[^>]*>', html)
        assert "style=" not in html and "<style" not in html
        settings = re.search(r'<script id="ui-settings" type="application/json">(.*?)</script>',
                             html, re.S)
        assert json.loads(settings[1])["face_colours"] == list(FACE_COLOURS)


def test_openapi_document_lists_every_api_route(app):
    import json
    import os
    import re

    from conftest import REPO_ROOT

    with open(os.path.join(REPO_ROOT, "docs", "openapi.json")) as f:
        documented = {(path, method) for path, item in json.load(f)["paths"].items()
                      for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/healthz", "/readyz")):
            path = re.sub(r"<any\([^)]*\):kind>", "{kind}", rule.rule)
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", path).replace("{job_id}", "{id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    kinds = {("/api/videos/{id}/" + kind, "get") for kind in ("video", "results.csv",
                                                               "results.json", "summary")}
    served = (served - {("/api/videos/{id}/{kind}", "get")}) | kinds
    assert served == documented


def test_too_many_requests_from_one_address_get_429_and_others_go_on(tmp_path):
    from webapp.app import create_app

    app = create_app({"ASYNC_MODE": "threading", "JOBS_DIR": str(tmp_path / "jobs"),
                      "RATE_LIMIT_ANALYZE": "3 per minute", "START_JOB_WORKERS": False})
    client = app.test_client()
    image = jpeg(no_face_scene())
    for _ in range(3):
        assert post_image(client, image).status_code == 200
    refused = post_image(client, image)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "3 per 1 minute" in refused.get_json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    other = client.post("/api/analyze", data={"image": (io.BytesIO(image), "a.jpg")},
                        content_type="multipart/form-data",
                        environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200
    assert client.get("/").status_code == 200  # pages are not API-limited
