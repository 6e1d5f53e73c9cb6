"""Classification through the shipped TFLite model and its JSON sidecar."""
import json

import cv2
import numpy as np
import pytest

from conftest import shared_file
from testkit.synthetic import cartoon_face, scene
from webapp.vision.classify import DEFAULT_MODEL, EmotionClassifier, ModelNotFound
from webapp.vision.preprocess import (
    EMOTIONS, INPUT_SIZE, POSTERISED_GREY_LEVELS, crop_face, grey_levels, mean_of_views,
    normalize_light, tta_views,
)


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier()


def test_model_card_describes_the_model():
    with open(DEFAULT_MODEL.replace(".tflite", ".json")) as f:
        card = json.load(f)
    assert card["labels"] == list(EMOTIONS)
    assert card["input_size"] == list(INPUT_SIZE)
    assert card["channels"] == 1
    assert {"input_scale", "input_offset"} <= set(card)


def test_probabilities_are_a_distribution_per_face(classifier):
    crops = [cv2.resize(cartoon_face(200), INPUT_SIZE[::-1]) for _ in range(3)]
    probabilities = classifier.predict(crops)
    assert probabilities.shape == (3, len(EMOTIONS))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert (probabilities >= 0).all()


def test_batch_gives_the_same_answer_as_one_at_a_time(classifier):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, INPUT_SIZE, dtype=np.uint8) for _ in range(4)]
    batch = classifier.predict(crops)
    single = np.concatenate([classifier.predict([crop]) for crop in crops])
    assert np.allclose(batch, single, atol=1e-5)


def test_different_faces_get_different_probabilities(classifier):
    rng = np.random.default_rng(1)
    a, b = classifier.predict([cartoon_face(48), rng.integers(0, 255, (48, 48), np.uint8)])
    assert not np.allclose(a, b, atol=1e-3)


def test_empty_batch_gives_empty_result(classifier):
    assert classifier.predict([]).shape == (0, len(EMOTIONS))


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="training.train"):
        EmotionClassifier(str(tmp_path / "nothing.tflite"))


def test_crop_is_clipped_to_the_image_and_resized():
    image = scene(640, 480)[..., 0]
    assert crop_face(image, [600, 400, 100, 100]).shape == INPUT_SIZE
    assert crop_face(image, [700, 500, 50, 50]) is None


def test_engine_labels_a_real_face(engine):
    image = cv2.imread(shared_file("samples", "face_ckplus_happy_S124_007_00000024.png"))
    result = engine.analyze(image)
    assert len(result["faces"]) >= 1
    face = result["faces"][0]
    assert face["emotion"] in EMOTIONS
    assert set(face["scores"]) == set(EMOTIONS)
    assert face["confidence"] == max(face["scores"].values())


def test_engine_finds_no_face_on_the_no_face_photo(engine):
    image = cv2.imread(shared_file("samples", "noface_coffee.png"))
    assert engine.analyze(image)["faces"] == []


def views_and_plain(network):
    """The network with four views and with one, the crops' light left as it is (so
    that a view can be fed to the plain one as the first makes it)."""
    classifier = EmotionClassifier(network, tta_zooms=(1.0, 1.05))
    plain = EmotionClassifier(network, tta_zooms=())
    for each in (classifier, plain):
        each.members[0].light = "none"
    return classifier, plain


def test_view_averaging_makes_a_face_and_its_mirror_agree(single_network):
    rng = np.random.default_rng(2)
    crop = rng.integers(0, 255, INPUT_SIZE, dtype=np.uint8)
    mirrored = np.ascontiguousarray(crop[:, ::-1])
    classifier, plain = views_and_plain(single_network)
    assert classifier.max_views == 4
    a, b = classifier.predict([crop, mirrored])
    assert np.allclose(a, b, atol=1e-5)
    assert plain.max_views == 1
    views = tta_views(np.stack([crop]), classifier.tta_zooms)
    assert np.allclose(plain.predict(list(views)).mean(axis=0), a, atol=1e-5)
    assert not np.allclose(plain.predict([crop])[0], a, atol=1e-3)


def test_first_views_take_each_face_round_the_cycle_of_views(single_network):
    rng = np.random.default_rng(4)
    crops = list(rng.integers(0, 255, (2, *INPUT_SIZE), dtype=np.uint8))
    classifier, plain = views_and_plain(single_network)
    each_view = plain.predict(list(tta_views(np.stack(crops[:1]), classifier.tta_zooms)))
    one_at_a_time = [classifier.predict(crops[:1], views=1, first_views=[k])[0] for k in range(4)]
    assert np.allclose(one_at_a_time, each_view, atol=1e-5)
    assert np.allclose(np.mean(one_at_a_time, axis=0), classifier.predict(crops[:1])[0], atol=1e-5)
    # two views from the last one wrap round to the first
    wrapped = classifier.predict(crops[:1], views=2, first_views=[3])[0]
    assert np.allclose(wrapped, each_view[[3, 0]].mean(axis=0), atol=1e-5)
    # faces of one batch each start where they are in their own cycle
    batch = classifier.predict(crops, views=1, first_views=[2, 1])
    assert np.allclose(batch[0], each_view[2], atol=1e-5)
    assert np.allclose(batch[1], classifier.predict(crops[1:], views=1, first_views=[1])[0],
                       atol=1e-5)


def test_tta_views_are_mirrors_and_zooms_of_each_crop_in_view_order():
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 255, (3, *INPUT_SIZE), dtype=np.uint8)
    views = tta_views(crops, zooms=(1.0, 1.25))
    assert views.shape == (12, *INPUT_SIZE) and views.dtype == np.uint8
    assert np.array_equal(views[:3], crops)
    assert np.array_equal(views[3:6], crops[:, :, ::-1])
    assert np.array_equal(views[9:12], views[6:9, :, ::-1])
    # Zooming out shrinks the face: the centre 32x32 of a 48 crop spans ~26 px.
    square = np.zeros(INPUT_SIZE, np.uint8)
    square[8:40, 8:40] = 255
    zoomed = tta_views(square[None], zooms=(1.25,))[0]
    assert 24 <= (zoomed[24] > 127).sum() <= 28
    answers = np.arange(12 * 2, dtype=np.float32).reshape(12, 2)
    assert np.allclose(mean_of_views(answers, 3)[0], answers[0::3].mean(axis=0))


def members_model(folder, members, network):
    """A model of several members: copies of one network's file, a card naming them."""
    import shutil

    with open(network.replace(".tflite", ".json")) as f:
        card = json.load(f)
    for member in members:
        shutil.copy(network, folder / member["file"])
    card["members"] = members
    (folder / "emotion.json").write_text(json.dumps(card))
    return str(folder / "emotion.tflite")


def pair_and_each_alone(tmp_path, first, second, network):
    """Classifiers of the two members together, of the first alone, of the second alone."""
    folders = [tmp_path / name for name in ("both", "first", "second")]
    for folder in folders:
        folder.mkdir()
    return (EmotionClassifier(members_model(folders[0], [first, second], network)),
            EmotionClassifier(members_model(folders[1], [first], network)),
            EmotionClassifier(members_model(folders[2], [{**second, "file": "emotion.tflite"}],
                                            network)))


def test_members_answer_as_the_weighted_mean_of_each_ones_views(tmp_path, single_network):
    first = {"file": "emotion.tflite", "crop_normalisation": "none", "tta_zooms": [1.0, 1.05],
             "weight": 3.0}
    second = {"file": "b.tflite", "crop_normalisation": "equalize", "tta_zooms": [1.0],
              "weight": 1.0}
    both, alone, other = pair_and_each_alone(tmp_path, first, second, single_network)
    crops = list(np.random.default_rng(5).integers(0, 255, (3, *INPUT_SIZE), dtype=np.uint8))
    assert both.max_views == 6 and [member.light for member in both.members] == [
        "none", "equalize"]
    assert np.allclose(both.predict(crops),
                       0.75 * alone.predict(crops) + 0.25 * other.predict(crops), atol=1e-5)
    assert not np.allclose(alone.predict(crops), other.predict(crops), atol=1e-3)


def test_a_stream_one_view_at_a_time_takes_the_members_in_turn(tmp_path, single_network):
    path = members_model(tmp_path, [
        {"file": "emotion.tflite", "crop_normalisation": "none", "tta_zooms": [1.0, 1.05]},
        {"file": "b.tflite", "crop_normalisation": "equalize", "tta_zooms": [1.0, 1.05]}],
        single_network)
    both = EmotionClassifier(path)
    assert both.cycle[:4] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    crop = [np.random.default_rng(6).integers(0, 255, INPUT_SIZE, dtype=np.uint8)]
    one_at_a_time = [both.predict(crop, views=1, first_views=[k])[0] for k in range(8)]
    assert not np.allclose(one_at_a_time[0], one_at_a_time[1], atol=1e-3)  # other member
    assert np.allclose(np.mean(one_at_a_time, axis=0), both.predict(crop)[0], atol=1e-5)


def test_a_member_out_of_the_rotation_answers_only_classifications_of_every_view(
        tmp_path, single_network):
    first = {"file": "emotion.tflite", "crop_normalisation": "none", "tta_zooms": [1.0, 1.05]}
    second = {"file": "b.tflite", "crop_normalisation": "equalize", "tta_zooms": [1.0, 1.05]}
    _, alone, other = pair_and_each_alone(tmp_path, first, second, single_network)
    second["in_rotation"] = False
    (tmp_path / "sitting_out").mkdir()
    both = EmotionClassifier(members_model(tmp_path / "sitting_out", [first, second],
                                           single_network))
    crop = [np.random.default_rng(11).integers(0, 255, INPUT_SIZE, dtype=np.uint8)]
    assert both.max_views == 8 and not np.allclose(alone.predict(crop), other.predict(crop),
                                                   atol=1e-3)
    # Every view (a photo, a video frame): both members.
    every_view = 0.5 * alone.predict(crop) + 0.5 * other.predict(crop)
    assert np.allclose(both.predict(crop), every_view, atol=1e-5)
    assert np.allclose(both.predict(crop, views=8), every_view, atol=1e-5)
    # Fewer views (a stream under load): the first member's views in turn, never the second's.
    one_at_a_time = [both.predict(crop, views=1, first_views=[k])[0] for k in range(8)]
    assert np.allclose(np.mean(one_at_a_time[:4], axis=0), alone.predict(crop)[0], atol=1e-5)
    assert np.allclose(one_at_a_time[4:], one_at_a_time[:4], atol=1e-6)
    assert np.allclose(both.predict(crop, views=4, first_views=[2]), alone.predict(crop),
                       atol=1e-5)
    # A card whose members all sit out would leave a stream under load nothing to run.
    folder = tmp_path / "none"
    folder.mkdir()
    with pytest.raises(ValueError, match="rotation"):
        EmotionClassifier(members_model(folder, [{**first, "in_rotation": False}, second],
                                        single_network))


def test_grey_levels_counts_the_distinct_values_of_each_crop():
    rng = np.random.default_rng(9)
    flat = rng.integers(40, 56, INPUT_SIZE).astype(np.uint8)  # 16 values, all present
    full = np.arange(48 * 48, dtype=np.uint32).reshape(INPUT_SIZE) % 256
    assert list(grey_levels(np.stack([flat, full.astype(np.uint8)]))) == [16, 256]
    assert list(grey_levels(np.zeros((1, *INPUT_SIZE), np.uint8))) == [1]
    assert len(grey_levels(np.zeros((0, *INPUT_SIZE), np.uint8))) == 0


def test_a_member_that_does_not_read_posterised_crops_gives_them_no_vote(tmp_path,
                                                                        single_network):
    first = {"file": "emotion.tflite", "crop_normalisation": "none", "tta_zooms": [1.0, 1.05]}
    second = {"file": "b.tflite", "crop_normalisation": "equalize", "tta_zooms": [1.0, 1.05],
              "reads_posterised": False}
    both, alone, other = pair_and_each_alone(tmp_path, first, second, single_network)
    rng = np.random.default_rng(10)
    dark = rng.integers(0, POSTERISED_GREY_LEVELS, INPUT_SIZE).astype(np.uint8)
    barely = rng.integers(0, POSTERISED_GREY_LEVELS + 1, INPUT_SIZE).astype(np.uint8)
    lit = rng.integers(0, 256, INPUT_SIZE).astype(np.uint8)
    assert list(grey_levels(np.stack([dark, barely]))) == [POSTERISED_GREY_LEVELS,
                                                            POSTERISED_GREY_LEVELS + 1]
    crops = [dark, barely, lit]
    answers = both.predict(crops)
    # The posterised crop is the first member's alone; the others are both members'.
    assert np.allclose(answers[0], alone.predict([dark])[0], atol=1e-5)
    assert not np.allclose(answers[0], other.predict([dark])[0], atol=1e-3)
    mean = 0.5 * alone.predict(crops[1:]) + 0.5 * other.predict(crops[1:])
    assert np.allclose(answers[1:], mean, atol=1e-5)
    # A stream one view at a time: the posterised crop cycles through the first
    # member's four views only, never an empty vote.
    one_at_a_time = [both.predict([dark], views=1, first_views=[k])[0] for k in range(4)]
    assert np.allclose(np.mean(one_at_a_time, axis=0), answers[0], atol=1e-5)
    assert np.allclose(both.predict([dark], views=1, first_views=[5])[0], one_at_a_time[1],
                       atol=1e-6)


def test_the_cards_temperature_sharpens_each_answer_and_keeps_its_label(tmp_path,
                                                                       single_network):
    member = {"file": "emotion.tflite", "crop_normalisation": "none", "tta_zooms": [1.0, 1.05]}
    folders = [tmp_path / name for name in ("plain", "sharp")]
    for folder in folders:
        folder.mkdir()
    plain = EmotionClassifier(members_model(folders[0], [member], single_network))
    sharp_path = members_model(folders[1], [member], single_network)
    card = json.loads((folders[1] / "emotion.json").read_text())
    (folders[1] / "emotion.json").write_text(json.dumps({**card, "temperature": 0.5}))
    sharp = EmotionClassifier(sharp_path)
    crops = list(np.random.default_rng(7).integers(0, 255, (4, *INPUT_SIZE), dtype=np.uint8))
    before, after = plain.predict(crops), sharp.predict(crops)
    squared = before.astype(np.float64) ** 2
    assert np.allclose(after, squared / squared.sum(axis=1, keepdims=True), atol=1e-5)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()
    assert (after.max(axis=1) > before.max(axis=1)).all()
    assert np.allclose(EmotionClassifier(sharp_path, temperature=1.0).predict(crops), before,
                       atol=1e-6)
