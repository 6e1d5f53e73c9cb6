"""What the README promises a newcomer: its Socket.IO snippet runs, the engine's
one call works in a plain Python process without the web stack, and JSON answers
keep the documented key order."""
import json
import os
import re
import shutil
import subprocess
import sys

import requests

from conftest import REPO_ROOT, shared_file
from testkit.synthetic import jpeg, scene
from webapp.vision.preprocess import EMOTIONS

FACE_KEYS = ["id", "person_id", "box", "emotion", "confidence", "scores", "pose", "quality", "attending",
             "uncertain"]


def readme_python_block(after_heading):
    """The first ```python block of the README after the given heading."""
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index(after_heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_socketio_snippet_gets_the_faces_of_a_phone_photo(server, tmp_path):
    """The snippet, as pasted, on the largest sample photo (2048x1638, over the live
    stream's limit as it is), against a server at the default frame rate limit."""
    snippet = readme_python_block("## The Socket.IO contract")
    snippet = snippet.replace("http://127.0.0.1:5000", server.url)
    shutil.copy(shared_file("samples", "face_paul_rudd.jpg"), tmp_path / "your_photo.jpg")
    run = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answers = run.stdout.strip().splitlines()
    assert len(answers) == 5 and all("'faces': [{'id': 1, 'person_id': 1, 'box': [" in a for a in answers), \
        run.stdout


def test_analyze_answers_keys_in_the_documented_order(live_server):
    response = requests.post(live_server.url + "/api/analyze", timeout=30,
                             files={"image": ("face.jpg", jpeg(scene(640, 480)), "image/jpeg")})
    assert response.status_code == 200
    pairs = json.loads(response.text, object_pairs_hook=lambda items: items)
    top = dict(pairs)
    assert [key for key, _ in pairs] == ["faces", "frame"]
    face = top["faces"][0]
    assert [key for key, _ in face] == FACE_KEYS
    assert [key for key, _ in dict(face)["scores"]] == list(EMOTIONS)
    assert [key for key, _ in top["frame"]] == ["width", "height"]


def test_importing_the_engine_loads_no_web_stack():
    code = ("import sys, webapp.vision, webapp.vision.pipeline; "
            "print([m for m in ('flask', 'flask_socketio', 'flask_limiter', 'socketio', "
            "'eventlet') if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_readme_engine_snippet_finds_the_face_without_flask(tmp_path):
    snippet = readme_python_block("## Use the engine from Python")
    (tmp_path / "face.jpg").write_bytes(jpeg(scene(640, 480)))
    check = "\nimport sys\nassert 'flask' not in sys.modules\n"
    run = subprocess.run([sys.executable, "-c", snippet + check], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert run.returncode == 0, run.stderr
    assert "'box': [" in run.stdout and "'emotion': '" in run.stdout, run.stdout


def test_vision_analyze_takes_a_path_bytes_or_an_array(tmp_path):
    from webapp import vision

    frame = scene(640, 480)
    path = tmp_path / "face.jpg"
    path.write_bytes(jpeg(frame))
    answers = [vision.analyze(str(path)), vision.analyze(path.read_bytes()), vision.analyze(frame)]
    for faces in answers:
        assert len(faces) == 1
        assert list(faces[0]) == FACE_KEYS
        assert faces[0]["emotion"] in [*EMOTIONS, "uncertain"]  # a drawn face
        x, y, w, h = faces[0]["box"]  # inside the drawn face, pasted at (64, 60), 360 wide
        assert 64 <= x and 60 <= y and x + w <= 424 and y + h <= 420 and w > 150, (x, y, w, h)
    assert vision.default_engine() is vision.default_engine()
