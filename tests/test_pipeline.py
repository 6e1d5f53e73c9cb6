"""The engine end to end: stateless analysis, stream sessions, threads."""
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from conftest import shared_file
from webapp.vision.pipeline import Engine
from testkit.synthetic import jpeg, no_face_scene, scene
from webapp.vision import preprocess


def test_analyze_numbers_faces_from_one(engine):
    result = engine.analyze(scene(640, 480, faces=((20, 60, 250), (400, 160, 200))))
    assert [face["id"] for face in result["faces"]] == [1, 2]


def test_stream_keeps_the_id_of_a_moving_face(engine):
    session = engine.session()
    ids = set()
    for step in range(20):
        result = session.process(scene(640, 480, faces=((40 + 8 * step, 60, 340),)), step / 15)
        assert len(result["faces"]) == 1
        ids.add(result["faces"][0]["id"])
    assert ids == {1}


def test_stream_gives_a_new_face_a_new_id_by_the_next_full_scan(engine):
    session = engine.session(full_scan_every=10)
    for step in range(5):
        session.process(scene(640, 480, faces=((20, 60, 250),)), step / 15)
    two_faces = scene(640, 480, faces=((20, 60, 250), (400, 160, 200)))
    results = [session.process(two_faces, step / 15) for step in range(5, 11)]
    assert sorted(face["id"] for face in results[-1]["faces"]) == [1, 2]


def test_face_leaving_and_frames_without_faces(engine):
    session = engine.session()
    session.process(scene(640, 480), 0.0)
    assert session.process(no_face_scene(), 1 / 15)["faces"] == []


def test_real_clip_keeps_one_id_for_the_face(engine):
    capture = cv2.VideoCapture(shared_file("samples", "clip_smile_liveportrait_d19.mp4"))
    session, ids, frames_with_face, frames = engine.session(), set(), 0, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        faces = session.process(frame, frames / 30)["faces"]
        frames += 1
        frames_with_face += bool(faces)
        ids.update(face["id"] for face in faces)
    assert frames == 250
    assert frames_with_face >= 0.95 * frames
    assert len(ids) <= 2


def test_many_threads_give_the_same_results_as_one():
    engine = Engine(views=4)  # views fixed: by default they adapt to the load
    images = [scene(640, 480, faces=((20 + 10 * i, 60, 250),)) for i in range(8)]
    images += [no_face_scene()]
    expected = [engine.analyze(image) for image in images]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            assert list(pool.map(engine.analyze, images)) == expected


def test_many_threads_running_their_own_sessions_agree_with_one():
    engine = Engine(views=4)
    frames = [jpeg(scene(640, 480, faces=((40 + 6 * i, 60, 340),))) for i in range(12)]

    def run(_):
        session = engine.session()
        return [session.process_bytes(data, timestamp=i / 15) for i, data in enumerate(frames)]

    expected = run(None)
    with ThreadPoolExecutor(6) as pool:
        assert all(results == expected for results in pool.map(run, range(6)))


def test_serving_preprocessing_matches_training():
    """Training normalises FER-2013 pixels with the very constants the model card
    records and the server applies; a face crop of a 48x48 image is the image."""
    import json
    import os

    from training import train

    pixels = (np.arange(48 * 48) % 256).astype(np.uint8).reshape(1, 48, 48)
    from keras import ops

    batch = train.Batches(pixels.repeat(2, 0), np.zeros((2, 7), np.float32),
                          np.ones(2, np.float32), batch_size=2)[0]
    served = preprocess.normalize(preprocess.crop_face(pixels[0], [0, 0, 48, 48])[..., None])
    assert np.allclose(ops.convert_to_numpy(batch[0])[0], served)
    with open(os.path.join(os.path.dirname(__file__), "..", "models", "emotion.json")) as f:
        card = json.load(f)
    assert card["input_scale"] == pytest.approx(preprocess.INPUT_SCALE)
    assert card["input_offset"] == pytest.approx(preprocess.INPUT_OFFSET)
    assert card["labels"] == list(preprocess.EMOTIONS)




def test_min_hits_hides_a_face_seen_in_one_frame_only(engine):
    session = engine.session(min_hits=2)
    assert session.process(scene(640, 480), 0.0)["faces"] == []  # seen once: not yet
    assert len(session.process(scene(640, 480), 1 / 15)["faces"]) == 1
    flash = engine.session(min_hits=2)
    flash.process(scene(640, 480), 0.0)
    assert flash.process(no_face_scene(), 1 / 15)["faces"] == []


class CountingClassifier:
    """The engine's real classifier, counting the faces it is asked to classify."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.faces = []

    def __getattr__(self, name):
        return getattr(self.classifier, name)

    def predict(self, crops, views=None, first_views=None):
        self.faces.append(len(crops))
        return self.classifier.predict(crops, views, first_views)


@pytest.fixture()
def counting_engine():
    engine = Engine()
    engine.classifier = CountingClassifier(engine.classifier)
    return engine


def test_schedule_classifies_a_new_face_at_once_then_at_its_rate(counting_engine):
    session = counting_engine.session(classify_interval=0.2)
    frame = scene(640, 480)
    first = session.process(frame, 0.0)
    assert len(first["faces"]) == 1 and counting_engine.classifier.faces == [1]
    results = [session.process(frame, i / 30) for i in range(1, 31)]  # one second at 30 fps
    classified = sum(counting_engine.classifier.faces)
    assert 5 <= classified <= 6  # at 0, then at most every 0.2 s of stream time
    assert all(r["faces"][0]["id"] == 1 for r in results)
    assert all(r["faces"][0]["scores"] == first["faces"][0]["scores"] for r in results[:5])


def test_schedule_classifies_sooner_when_the_face_moves(counting_engine):
    session = counting_engine.session(classify_interval=10)
    session.process(scene(640, 480, faces=((40, 60, 300),)), 0.0)
    session.process(scene(640, 480, faces=((44, 60, 300),)), 1 / 30)  # a small move: no
    assert sum(counting_engine.classifier.faces) == 1
    session.process(scene(640, 480, faces=((160, 60, 300),)), 2 / 30)  # a big one: yes
    assert sum(counting_engine.classifier.faces) == 2


def test_classify_interval_zero_classifies_every_frame(counting_engine):
    session = counting_engine.session(classify_interval=0)
    for i in range(10):
        session.process(scene(640, 480), i / 30)
    assert counting_engine.classifier.faces == [1] * 10


def test_faces_per_frame_are_capped_largest_first():
    engine = Engine(max_faces=1)
    result = engine.analyze(scene(640, 480, faces=((20, 60, 250), (400, 160, 200))))
    assert len(result["faces"]) == 1 and result["faces"][0]["box"][0] < 300


def test_views_adapt_to_load(single_network):
    engine = Engine(single_network, tta_zooms=(1.0, 1.05))
    assert engine.in_work == 0
    assert engine.views_for_load() == engine.classifier.max_views == 4
    assert engine.views_for_load(in_work=2) == 2
    assert engine.views_for_load(in_work=64) == 1
    with engine.working():
        assert engine.in_work == 1 and engine.views_for_load() == 4
    assert engine.in_work == 0


def test_a_stream_with_one_view_a_classification_goes_round_all_the_views(single_network):
    engine = Engine(single_network, tta_zooms=(1.0, 1.05))
    # no smoothing, every frame classified and scanned alike: what is shown is each raw answer
    session = engine.session(views=1, classify_interval=0, tau=0, full_scan_every=1)
    frame = scene(640, 480)
    shown = [np.array(list(session.process(frame, i / 15)["faces"][0]["scores"].values()))
             for i in range(8)]
    assert not np.allclose(shown[0], shown[1], atol=1e-3)  # another view, not the same one
    assert np.allclose(shown[:4], shown[4:], atol=1e-4)  # a cycle of four
    every_view = np.array(list(engine.analyze(frame)["faces"][0]["scores"].values()))
    assert np.allclose(np.mean(shown[:4], axis=0), every_view, atol=1e-3)


def test_a_face_keeps_its_id_when_the_stream_changes_resolution(engine):
    # the live page steps its frame size 320 -> 480 -> 640 as round trips allow
    session = engine.session()
    widths = [320] * 3 + [480] * 3 + [640] * 3 + [320] * 3
    ids = [face["id"] for index, width in enumerate(widths)
           for face in session.process(
               cv2.resize(scene(640, 480), (width, width * 3 // 4)), index / 15)["faces"]]
    assert len(ids) == 12 and set(ids) == {1}


@pytest.mark.parametrize("detector", ["haar", "blazeface_short"])
def test_other_detectors_serve_the_same_contract(detector):
    engine = Engine(detector=detector)
    session = engine.session()
    results = [session.process(scene(640, 480), i / 15) for i in range(12)]
    assert all(len(r["faces"]) == 1 and r["faces"][0]["id"] == 1 for r in results)
    assert len(engine.analyze(scene(640, 480, faces=((20, 60, 250), (400, 160, 200))))["faces"]) == 2
