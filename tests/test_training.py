"""The training pipeline on tiny data: load, train, evaluate, export."""
import csv
import gzip
import json
import os
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest

# TF 2.21's oneDNN kernels crash training these small models on some CPUs (seen on an
# AMD EPYC with AVX-512); TensorFlow's own kernels train them the same way.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from conftest import REPO_ROOT, shared_file
from training import data, metrics
from webapp.vision.preprocess import EMOTIONS

SPLIT_SIZES = {"Training": 224, "PublicTest": 48, "PrivateTest": 48}


def write_fer_csv(path, sizes=SPLIT_SIZES, seed=0):
    """A FER-2013-shaped CSV whose class is readable from the image (a
    brightness band per class), so that a model can learn it."""
    rng = np.random.default_rng(seed)
    rows = []
    for usage, count in sizes.items():
        for i in range(count):
            label = i % len(EMOTIONS)
            image = rng.integers(0, 60, (48, 48))
            image[label * 6:label * 6 + 8] += 180
            rows.append((label, " ".join(map(str, image.ravel())), usage))
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(rows)
    return str(path)


def write_ferplus_csv(path, sizes=SPLIT_SIZES):
    columns = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger",
               "disgust", "fear", "contempt", "unknown", "NF"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for usage, count in sizes.items():
            for i in range(count):
                votes = [0] * 10
                if i == 0:
                    votes[9] = 10  # not a face
                else:
                    votes[0], votes[1] = 6, 4  # 60% neutral, 40% happy
                writer.writerow([usage, f"fer{i:07d}.png", *votes])
    return str(path)


@pytest.fixture()
def tiny_csv(tmp_path):
    return write_fer_csv(tmp_path / "fer.csv.gz")


def test_loader_counts_each_split(tiny_csv):
    splits = data.load_splits(tiny_csv)
    assert {name: len(split) for name, split in splits.items()} == SPLIT_SIZES
    train = splits["Training"]
    assert train.images.shape == (224, 48, 48) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == [32] * 7


def test_loader_limit_keeps_first_rows_of_each_split(tiny_csv):
    splits = data.load_splits(tiny_csv, limit=10)
    assert all(len(split) == 10 for split in splits.values())


def test_the_holdout_is_the_same_slice_of_training_every_time_in_each_labels_share(tiny_csv):
    splits = data.load_splits(tiny_csv, holdout=35)
    again = data.load_splits(tiny_csv, holdout=35)
    held, rest = splits[data.HOLDOUT], splits["Training"]
    assert len(held) == 35 and len(rest) == 224 - 35
    assert np.bincount(held.labels).tolist() == [5] * 7
    assert np.array_equal(held.images, again[data.HOLDOUT].images)
    whole = {face.tobytes() for face in data.load_splits(tiny_csv)["Training"].images}
    assert {face.tobytes() for face in held.images} <= whole
    assert not {face.tobytes() for face in held.images} & {face.tobytes() for face in rest.images}
    assert len(splits["PublicTest"]) == len(splits["PrivateTest"]) == 48
    assert data.load_split(data.HOLDOUT, tiny_csv, limit=100).images.shape == (10, 48, 48)
    with pytest.raises(data.DataError, match="cannot hold out"):
        data.load_splits(tiny_csv, holdout=224)


def test_a_run_chosen_on_the_holdout_trains_on_publictest_and_never_on_the_holdout(
        tmp_path, tiny_csv, capsys):
    from training import train

    args = ["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1", "--batch-size", "16",
            "--validation", "Holdout", "--holdout", "35"]
    train.main(args + ["--fit-public", "--out", str(tmp_path / "run")])
    assert "data: 237 training, 35 validation images (Holdout)" in capsys.readouterr().out
    assert (tmp_path / "run" / "best.keras").is_file()
    with pytest.raises(SystemExit, match="--fit-public needs --validation Holdout"):
        train.main(["--data", tiny_csv, "--fit-public", "--out", str(tmp_path / "bad")])


def test_path_comes_from_environment(tiny_csv, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, tiny_csv)
    assert len(data.load_splits()["PrivateTest"]) == 48


@pytest.mark.parametrize("content, complaint", [
    ("label,pixels,Usage\n", "header"),
    ("emotion,pixels,Usage\n3,1 2 3,Training\n", "2304 pixel values"),
    ("emotion,pixels,Usage\n9," + " ".join(["0"] * 2304) + ",Training\n", "emotion must be 0..6"),
    ("emotion,pixels,Usage\n3," + " ".join(["0"] * 2304) + ",Holdout\n", "unknown Usage"),
    ("emotion,pixels,Usage\n3," + " ".join(["x"] * 2304) + ",Training\n", "integers"),
    ("emotion,pixels,Usage\n3\n", "3 fields"),
    ("emotion,pixels,Usage\n", "no data rows"),
])
def test_malformed_csv_is_rejected_with_a_clear_error(tmp_path, content, complaint):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(data.DataError, match=complaint):
        data.load_splits(str(path))


def test_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    with pytest.raises(data.DataError, match="FER2013_CSV"):
        data.load_splits()
    with pytest.raises(data.DataError, match="not found"):
        data.load_splits(str(tmp_path / "nothing.csv"))


def test_ferplus_votes_become_distributions_and_non_faces_leave_training(tmp_path, tiny_csv):
    ferplus = write_ferplus_csv(tmp_path / "ferplus.csv")
    splits = data.load_splits(tiny_csv, ferplus)
    assert len(splits["Training"]) == 223  # the not-a-face row is dropped
    assert len(splits["PrivateTest"]) == 48  # test splits keep every row
    votes = splits["Training"].targets("ferplus")
    happy, neutral = EMOTIONS.index("happy"), EMOTIONS.index("neutral")
    assert np.allclose(votes[:, neutral], 0.6) and np.allclose(votes[:, happy], 0.4)


def test_class_weights_favour_rare_classes():
    labels = np.array([0] * 90 + [1] * 10)
    weights = data.class_weights(labels, power=1.0)
    assert weights[1] == pytest.approx(9 * weights[0])
    assert weights[labels].mean() == pytest.approx(1.0)


def test_metrics_of_a_known_confusion():
    # true: 0,0,0,1,1,2 ; predicted: 0,0,1,1,1,0
    true = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])
    probabilities = np.full((6, 7), 0.0)
    probabilities[np.arange(6), predicted] = 0.8
    probabilities[np.arange(6), 6] += 0.2
    summary = metrics.summarize(probabilities, true)
    assert summary["accuracy"] == pytest.approx(4 / 6)
    angry, disgust, fear = (summary["per_class"][k] for k in EMOTIONS[:3])
    assert angry["precision"] == pytest.approx(2 / 3) and angry["recall"] == pytest.approx(2 / 3)
    assert disgust["precision"] == pytest.approx(2 / 3) and disgust["recall"] == 1.0
    assert disgust["f1"] == pytest.approx(0.8)
    assert fear["recall"] == 0.0 and fear["support"] == 1
    assert summary["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 7)
    assert summary["confusion_matrix"][0][:3] == [2, 1, 0]
    # Every prediction has confidence 0.8 and 4/6 are right: ECE = |0.667 - 0.8|.
    assert summary["ece"] == pytest.approx(abs(4 / 6 - 0.8))


def test_pipeline_trains_evaluates_and_exports_end_to_end(tmp_path, tiny_csv):
    from training import evaluate, export, predict, train

    run = tmp_path / "run"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "3",
                "--batch-size", "32", "--lr", "3e-3", "--out", str(run)])
    assert (run / "best.keras").exists() and (run / "log.csv").exists()

    evaluate.main([str(run / "best.keras"), "--data", tiny_csv, "--out", str(tmp_path / "m")])
    summary = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert summary["samples"] == 48 and summary["split"] == "PrivateTest"
    assert (tmp_path / "m" / "confusion.png").stat().st_size > 0

    tflite_path = export.export(str(run / "best.keras"), str(tmp_path / "models"),
                                metrics=summary)
    card = json.loads((tmp_path / "models" / "emotion.json").read_text())
    assert card["labels"] == list(EMOTIONS) and card["metrics"]["samples"] == 48

    # Export round trip: Keras and TFLite give the same probabilities.
    splits = data.load_splits(tiny_csv)
    x = evaluate.normalize(splits["PrivateTest"].images[..., None])
    keras_probabilities = predict.predict_keras(predict.load_model(str(run / "best.keras")), x)
    tflite_probabilities = predict.predict_tflite(tflite_path, x)
    assert np.allclose(keras_probabilities, tflite_probabilities, atol=1e-4)

    # int8 weights (the shipped form): close to the float model, same answers.
    quantized_path = export.export(str(run / "best.keras"), str(tmp_path / "q"),
                                   quantize="dynamic")
    assert os.path.getsize(quantized_path) < os.path.getsize(tflite_path) / 2
    quantized = predict.predict_tflite(quantized_path, x)
    assert np.abs(quantized - keras_probabilities).max() < 0.05
    assert (quantized.argmax(1) == keras_probabilities.argmax(1)).mean() >= 0.9


def test_training_resumes_from_its_backup(tmp_path, tiny_csv):
    from training import train

    run = tmp_path / "run"
    args = ["--data", tiny_csv, "--arch", "mini_xception", "--batch-size", "32", "--out", str(run)]
    train.main(args + ["--epochs", "1"])
    train.main(args + ["--epochs", "2"])
    epochs = [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1"]
    # Resumed again, an epoch that does not beat the best logged leaves best.keras alone.
    log = (run / "log.csv").read_text().splitlines()
    column = log[0].split(",").index("val_accuracy")
    first = log[1].split(",")
    first[column] = "1.0"
    (run / "log.csv").write_text("\n".join([log[0], ",".join(first), *log[2:]]) + "\n")
    best = (run / "best.keras").read_bytes()
    train.main(args + ["--epochs", "3"])
    assert (run / "best.keras").read_bytes() == best
    assert len((run / "log.csv").read_text().splitlines()) == 4


def test_real_fer2013_rows_load(tmp_path):
    path = shared_file("data", "fer2013.csv.gz")
    splits = data.load_splits(path, limit=50)
    assert all(len(split) == 50 for split in splits.values())
    assert splits["Training"].labels.max() < 7


@pytest.mark.parametrize("name", ["mini_xception", "vgg", "vgg_slim", "vgg_late", "vgg_spatial",
                                  "vgg_wide", "vgg_half", "vgg_quarter", "mobilenet_v2"])
def test_every_architecture_maps_a_face_batch_to_seven_probabilities(name):
    from training import models

    model = models.build(name)
    probabilities = model(np.zeros((2, 48, 48, 1), np.float32)).numpy()
    assert probabilities.shape == (2, len(EMOTIONS))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)


def test_a_narrowed_network_answers_as_the_wide_one_when_the_dropped_channels_are_silent():
    """Zero half of every wide layer's batch-norm scale and shift: those channels
    carry nothing, so the slim network keeping the rest must answer the same."""
    import keras

    from training import models, narrow

    wide = models.build("vgg")
    rng = np.random.default_rng(0)
    for previous, layer in zip(wide.layers, wide.layers[1:]):
        if isinstance(previous, keras.layers.Conv2D):
            gamma, beta, _, variance = layer.get_weights()
            silent = rng.permutation(len(gamma))[: len(gamma) // 2]
            gamma = rng.uniform(0.5, 1.5, len(gamma))
            beta = rng.normal(0, 0.1, len(gamma))
            gamma[silent], beta[silent] = 0.0, 0.0
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, len(gamma)), variance + 0.5])
    slim = narrow.narrow_into(wide, models.build("vgg_slim"))
    x = rng.normal(size=(4, 48, 48, 1)).astype(np.float32)
    wide_answers = wide(x, training=False).numpy()
    assert np.allclose(slim(x, training=False).numpy(), wide_answers, atol=1e-5)
    assert slim.count_params() < wide.count_params() / 2


def test_a_factored_network_at_full_rank_answers_as_the_full_one():
    """A 3x3 kernel from C to N channels has rank at most 3 min(C, N) as a
    (3 C) x (3 N) matrix: split at that rank, nothing is lost."""
    import keras

    from training import factor, models

    rng = np.random.default_rng(1)
    full = models.vgg(widths=(4, 4, 4, 4))
    for layer in full.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), variance + 0.5])
    factored = models.vgg(widths=(4, 4, 4, 4), work=2.0, name="vgg_factored")  # rank 12
    assert factor.is_factored(factored) and not factor.is_factored(full)
    factor.factor_into(full, factored)
    x = rng.normal(size=(4, 48, 48, 1)).astype(np.float32)
    assert np.allclose(factored(x, training=False).numpy(), full(x, training=False).numpy(),
                       atol=1e-5)


def test_a_split_kernel_keeps_the_most_of_the_kernel_that_its_rank_allows():
    from training import factor

    kernel = np.random.default_rng(2).normal(size=(3, 3, 8, 16)).astype(np.float32)
    errors = []
    for rank in (4, 12, 24):
        vertical, horizontal = factor.split_kernel(kernel, rank)
        assert vertical.shape == (3, 1, 8, rank) and horizontal.shape == (1, 3, rank, 16)
        residual = ((kernel - factor.joined_kernel(vertical, horizontal)) ** 2).sum()
        assert np.isclose(residual / (kernel ** 2).sum(), 1 - factor.kept_energy(kernel, rank),
                          atol=1e-5)
        errors.append(residual)
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-8 * (kernel ** 2).sum()


def test_factored_networks_do_a_half_and_a_quarter_of_the_work():
    from training import models

    def multiply_adds(model):
        total = 0
        for layer in model.layers:
            if hasattr(layer, "kernel") and len(layer.kernel.shape) == 4:
                height, width = layer.output.shape[1:3]
                total += height * width * int(np.prod(layer.kernel.shape))
        return total

    full = multiply_adds(models.build("vgg"))
    assert abs(multiply_adds(models.build("vgg_half")) / full - 0.5) < 0.02
    assert abs(multiply_adds(models.build("vgg_quarter")) / full - 0.25) < 0.02


def test_a_factored_student_starts_from_the_full_networks_weights(tmp_path, tiny_csv, capsys):
    import keras

    from training import factor, models, train

    teacher_path = tmp_path / "vgg.keras"
    models.build("vgg").save(teacher_path)
    out = tmp_path / "quarter"
    train.main(["--data", tiny_csv, "--arch", "vgg_quarter", "--init", str(teacher_path),
                "--teacher", str(teacher_path), "--teacher-online", "--teacher-weight", "0.8",
                "--epochs", "1", "--batch-size", "32", "--out", str(out)])
    assert f"weights from {teacher_path}, factored into vgg_quarter" in capsys.readouterr().out
    student = keras.models.load_model(out / "last.keras", compile=False)
    assert student.name == "vgg_quarter" and factor.is_factored(student)


def test_narrowing_between_different_layers_is_a_clear_error():
    from training import models, narrow

    with pytest.raises(ValueError, match="not have the same layers"):
        narrow.narrow_into(models.build("vgg"), models.build("mini_xception"))


def test_a_spatial_network_started_from_a_pooled_one_answers_as_it_and_can_then_tell_cells_apart(
        tmp_path):
    import keras

    from training import models, train, unpool

    pooled = models.build("vgg")
    rng = np.random.default_rng(1)
    for layer in pooled.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, len(gamma)), rng.normal(0, 0.2, len(gamma)),
                               rng.normal(0, 0.1, len(gamma)), variance + 0.5])
    path = tmp_path / "pooled.keras"
    pooled.save(path)
    spatial = models.build("vgg_spatial")
    train.initialise_from(spatial, str(path))
    x = rng.normal(size=(4, 48, 48, 1)).astype(np.float32)
    assert np.allclose(spatial(x, training=False).numpy(), pooled(x, training=False).numpy(),
                       atol=1e-5)
    assert unpool.is_spatial(spatial) and not unpool.is_spatial(pooled)

    head = next(layer for layer in spatial.layers if isinstance(layer, keras.layers.Dense))
    kernel = head.get_weights()[0]
    assert kernel.shape == (9 * 256, 256)
    kernel[:256] *= 3.0  # the top-left cell now counts three times as much
    head.set_weights([kernel])
    assert not np.allclose(spatial(x, training=False).numpy(), pooled(x, training=False).numpy(),
                           atol=1e-3)


def test_a_pooled_network_does_not_spread_into_a_different_one():
    from training import models, unpool

    with pytest.raises(ValueError, match="same layers"):
        unpool.unpool_into(models.build("mini_xception"), models.build("vgg_spatial"))
    with pytest.raises(ValueError, match="does not fit"):
        unpool.unpool_into(models.build("vgg_slim"), models.build("vgg_spatial"))


def test_unknown_architecture_is_a_clear_error():
    from training import models

    with pytest.raises(ValueError, match="unknown architecture"):
        models.build("resnet1000")


@pytest.mark.parametrize("name", ["mini_xception", "vgg", "vgg_slim", "vgg_late", "vgg_spatial",
                                  "vgg_wide", "mobilenet_v2"])
def test_class_offsets_fold_into_each_architecture_as_a_prior_correction(name):
    from training import models
    from training.class_bias import apply_bias, fold_into_model

    model = models.build(name)
    x = np.random.default_rng(0).normal(size=(4, 48, 48, 1)).astype(np.float32)
    before = model(x, training=False).numpy().astype(np.float64)
    offsets = np.array([0, 0.5, 1.0, 0, -0.3, 0, 0])
    after = fold_into_model(model, offsets)(x, training=False).numpy()
    assert np.allclose(after, apply_bias(before[None], offsets), atol=2e-3)
    assert (after[:, 2] > before[:, 2]).all() and (after[:, 4] < before[:, 4]).all()


def test_chosen_offsets_are_the_smallest_that_reach_the_target_recall():
    from training.class_bias import apply_bias, choose_bias, recalls

    # 10 faces of class 2 ("fear"): its probability is 0.30..0.48, "angry"'s 0.5.
    fear = np.linspace(0.30, 0.48, 10)
    probabilities = np.full((10, 7), 0.0)
    probabilities[:, 0], probabilities[:, 2] = 0.5, fear
    probabilities[:, 3] = 1 - 0.5 - fear  # the rest to "happy"
    labels = np.full(10, 2)
    bias = choose_bias(probabilities[None], labels, {2: 0.5}, step=0.05)
    assert recalls(apply_bias(probabilities[None], bias), labels)[2] >= 0.5
    smaller = bias.copy()
    smaller[2] -= 0.05
    assert recalls(apply_bias(probabilities[None], smaller), labels)[2] < 0.5
    assert bias[[0, 1, 3, 4, 5, 6]].tolist() == [0] * 6
    with pytest.raises(ValueError, match="fear recall"):
        choose_bias(probabilities[None], labels, {2: 1.1}, limit=0.5)


def test_offsets_chosen_on_publictest_are_exported_in_the_model(tmp_path, tiny_csv):
    from training import class_bias, evaluate, export, train

    run = tmp_path / "run"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1",
                "--batch-size", "32", "--out", str(run)])
    choice = tmp_path / "bias.json"
    class_bias.main([str(run / "best.keras"), "--data", tiny_csv, "--min-recall", "fear=0.6",
                     "--tta", "--out", str(choice)])
    offsets = json.loads(choice.read_text())["class_bias"]
    assert offsets["fear"] > 0 and offsets["happy"] == 0
    path = export.export(str(run / "best.keras"), str(tmp_path / "models"),
                         class_bias=offsets)
    card = json.loads((tmp_path / "models" / "emotion.json").read_text())
    assert card["class_bias"] == offsets and card["tta_zooms"]
    public = data.load_splits(tiny_csv)["PublicTest"]
    probabilities = evaluate.predict_split(path, public.images, card["tta_zooms"])
    assert class_bias.recalls(probabilities, public.labels)[2] >= 0.6


def test_training_with_weight_averaging_runs_and_saves_a_model(tmp_path, tiny_csv):
    import keras

    from training import train

    run = tmp_path / "run"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--batch-size", "32",
                "--epochs", "2", "--ema", "0.5", "--out", str(run)])
    saved = keras.models.load_model(run / "last.keras", compile=False)
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "val_accuracy" in log[0]
    probabilities = saved(np.zeros((1, 48, 48, 1), np.float32)).numpy()
    assert np.isclose(probabilities.sum(), 1.0, atol=1e-3)


def test_distillation_targets_are_distributions():
    from training.targets import distillation_targets

    rng = np.random.default_rng(0)
    one_hot = np.eye(len(EMOTIONS), dtype=np.float32)[rng.integers(0, 7, 50)]
    teacher = rng.dirichlet(np.ones(len(EMOTIONS)), 50).astype(np.float32)
    for weight in (0.0, 0.3, 1.0):
        targets = distillation_targets(one_hot, teacher, weight)
        assert targets.shape == one_hot.shape and (targets >= 0).all()
        assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-6)
    assert np.allclose(distillation_targets(one_hot, teacher, 1.0), teacher)


def test_mixup_blends_faces_targets_and_weights_by_the_same_share():
    import keras

    from training.batches import mixup

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (16, 48, 48, 1)).astype(np.float32)
    y = np.eye(len(EMOTIONS), dtype=np.float32)[rng.integers(0, 7, 16)]
    w = rng.uniform(0.5, 2.0, 16).astype(np.float32)
    mixed_x, mixed_y, mixed_w = (keras.ops.convert_to_numpy(t) for t in
                                 mixup(x, y, w, 0.4, seed=keras.random.SeedGenerator(3)))
    assert np.allclose(mixed_y.sum(axis=1), 1.0, atol=1e-6)
    assert not np.allclose(mixed_x, x)
    for i in range(16):
        # Face i is share * x[i] + (1 - share) * x[j] for one partner j, targets and
        # weight mixed by that same share.
        fits = []
        for j in range(16):
            difference = x[i] - x[j]
            if np.abs(difference).max() < 1e-6:
                continue
            share = float(((mixed_x[i] - x[j]) * difference).sum() / (difference ** 2).sum())
            if np.allclose(share * x[i] + (1 - share) * x[j], mixed_x[i], atol=1e-3):
                fits.append((share, j))
        if not fits:  # paired with itself
            assert np.allclose(mixed_x[i], x[i], atol=1e-4)
            continue
        share, j = fits[0]
        assert -1e-4 <= share <= 1 + 1e-4
        assert np.allclose(mixed_y[i], share * y[i] + (1 - share) * y[j], atol=1e-4)
        assert np.isclose(mixed_w[i], share * w[i] + (1 - share) * w[j], atol=1e-4)


def test_mixup_batches_are_float32_under_a_mixed_precision_policy():
    """The augmentation layers answer in bfloat16 there; mixing them with float32
    targets failed at the first batch."""
    import keras

    from training.batches import Batches, augmenter

    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (16, 48, 48), np.uint8)
    targets = np.eye(len(EMOTIONS), dtype=np.float32)[rng.integers(0, 7, 16)]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        batches = Batches(images, targets, np.ones(16, np.float32), 8,
                          augment=augmenter(0), mixup_alpha=0.2)
        x, y, w = batches[1]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert len(batches) == 2
    assert x.dtype == "float32" and x.shape == (8, 48, 48, 1)
    assert np.allclose(keras.ops.convert_to_numpy(y).sum(axis=1), 1.0, atol=1e-5)


def test_mixed_crops_give_each_face_one_version_or_the_other():
    from training.batches import Batches

    black, white = np.zeros((64, 48, 48), np.uint8), np.full((64, 48, 48), 255, np.uint8)
    targets = np.eye(len(EMOTIONS), dtype=np.float32)[np.arange(64) % 7]
    batches = Batches(black, targets, np.ones(64, np.float32), 32, alternates=white)
    faces = np.concatenate([keras_numpy(batches[i][0]) for i in range(len(batches))])
    means = faces.reshape(64, -1).mean(axis=1)
    assert set(np.round(means, 4)) == {-1.0, 1.0}  # each face wholly one version
    assert 16 <= (means > 0).sum() <= 48  # about half of each
    plain = Batches(black, targets, np.ones(64, np.float32), 32)
    assert (keras_numpy(plain[0][0]) == -1.0).all()


def keras_numpy(tensor):
    import keras

    return keras.ops.convert_to_numpy(tensor)


def test_teacher_ensemble_targets_are_the_mean_and_the_cache_knows_its_teachers(
        tmp_path, monkeypatch):
    from training import evaluate, targets

    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (10, 48, 48), np.uint8)
    answers = {name: rng.dirichlet(np.ones(len(EMOTIONS)), 10) for name in ("a", "b")}
    calls = []

    def fake_predict_split(path, faces, views):
        calls.append(path)
        return answers[os.path.basename(path)]

    monkeypatch.setattr(evaluate, "predict_split", fake_predict_split)
    cache = str(tmp_path / "teacher_targets.npy")
    both = targets.teacher_targets(["a", "b"], images, (1.0,), cache)
    assert np.allclose(both, (answers["a"] + answers["b"]) / 2, atol=1e-6)
    assert np.allclose(both.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(targets.teacher_targets(["a", "b"], images, (1.0,), cache), both)
    assert len(calls) == 2  # the second call read the cache
    alone = targets.teacher_targets(["a"], images, (1.0,), cache)
    assert len(calls) == 3 and np.allclose(alone, answers["a"], atol=1e-6)


def test_teacher_and_student_pipeline_runs_end_to_end(tmp_path, tiny_csv):
    """A teacher is trained and exported; a student learns from its views'
    probabilities and is exported with int8 activations and one view."""
    from training import evaluate, export, predict, train

    teacher_run, student_run = tmp_path / "teacher", tmp_path / "student"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "2",
                "--batch-size", "32", "--lr", "3e-3", "--out", str(teacher_run)])
    teacher = export.export(str(teacher_run / "best.keras"), str(tmp_path / "teacher_model"))
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "2",
                "--batch-size", "32", "--lr", "3e-3", "--teacher", teacher,
                "--teacher-weight", "0.7", "--mixup", "0.2", "--out", str(student_run)])
    cached = np.load(student_run / "teacher_targets.npy")
    training_images = data.load_splits(tiny_csv)["Training"].images
    assert cached.shape == (len(training_images), len(EMOTIONS))
    assert np.allclose(cached, evaluate.predict_split(teacher, training_images,
                                                      (1.0, 1.05)), atol=1e-5)

    faces = export.calibration_faces(tiny_csv, count=64)
    student = export.export(str(student_run / "best.keras"), str(tmp_path / "student_model"),
                            quantize="int8", tta_zooms=(), calibration=faces)
    card = json.loads((tmp_path / "student_model" / "emotion.json").read_text())
    assert card["tta_zooms"] == [] and card["weights"].startswith("int8 weights and activations")
    x = evaluate.normalize(data.load_splits(tiny_csv)["PrivateTest"].images[..., None])
    float_answers = predict.predict_keras(predict.load_model(str(student_run / "best.keras")), x)
    int8_answers = predict.predict_tflite(student, x)
    assert np.allclose(int8_answers.sum(axis=1), 1.0, atol=0.02)
    # Close to the float model (a barely trained one: its answers are close calls, so
    # compare probabilities rather than which label wins).
    assert np.abs(int8_answers - float_answers).max() < 0.05


def test_an_online_teacher_answers_as_its_views_do_and_students_learn_from_it(tmp_path,
                                                                             tiny_csv):
    """The online teacher sees the views the server makes and answers with
    distributions; a student trains on its answers."""
    import keras

    from training import batches, evaluate, train
    from webapp.vision.preprocess import tta_views

    images = data.load_splits(tiny_csv)["PrivateTest"].images[:32]
    x = keras.ops.convert_to_tensor(evaluate.normalize(images[..., None]))
    in_graph = keras.ops.convert_to_numpy(batches.views(x, (1.0, 1.05)))
    served = evaluate.normalize(tta_views(images, (1.0, 1.05))[..., None])
    assert in_graph.shape == served.shape == (4 * 32, 48, 48, 1)
    grey_levels = np.abs(in_graph - served) * 127.5  # cv2 interpolates in fixed point
    assert grey_levels.mean() < 0.5 and grey_levels.max() < 8  # a zoom of 1.1: 5.6 and 220

    teacher_run, student_run = tmp_path / "teacher", tmp_path / "student"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1",
                "--batch-size", "32", "--out", str(teacher_run)])
    teacher = str(teacher_run / "best.keras")
    answers = keras.ops.convert_to_numpy(batches.OnlineTeacher([teacher], (1.0, 1.05))(x))
    assert answers.shape == (32, len(EMOTIONS))
    assert np.allclose(answers.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(answers - evaluate.predict_split(teacher, images, (1.0, 1.05))).max() < 1e-3

    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1",
                "--batch-size", "32", "--teacher", teacher, "--teacher-online",
                "--teacher-weight", "0.7", "--mixup", "0.2", "--out", str(student_run)])
    assert (student_run / "best.keras").is_file()
    assert not (student_run / "teacher_targets.npy").exists()


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeModel:
    def __init__(self):
        self.optimizer = types.SimpleNamespace(learning_rate=None)
        self.stop_training = False


def run_budget(seconds, epoch_seconds, peak=1e-3):
    """TimeBudget over epochs that take `epoch_seconds[i]` on a fake clock; the
    learning rate of each epoch run."""
    from training import schedules

    clock, model = FakeClock(), FakeModel()
    budget = schedules.TimeBudget(seconds, peak, clock=clock)
    budget.set_model(model)
    budget.on_train_begin()
    rates = []
    for epoch, duration in enumerate(epoch_seconds):
        budget.on_epoch_begin(epoch)
        rates.append(model.optimizer.learning_rate)
        clock.now += duration
        budget.on_epoch_end(epoch)
        if model.stop_training:
            return rates
    raise AssertionError("the budget never stopped training")


def test_a_time_budget_runs_the_whole_schedule_in_the_epochs_that_fit():
    peak = 1e-3
    rates = run_budget(100, [10] * 50, peak)
    assert len(rates) == 10  # ten epochs of 10 s fit in 100 s
    assert rates[0] == pytest.approx(peak / 10) and rates[1] == pytest.approx(peak)
    assert all(a > b for a, b in zip(rates[1:], rates[2:]))  # then it only decays
    assert rates[-1] < 0.1 * peak
    # A slow first epoch (compiling) is not taken as the pace of the rest.
    rates = run_budget(100, [40] + [10] * 50, peak)
    assert len(rates) == 7 and rates[-1] < 0.2 * peak
    assert len(run_budget(100, [60] + [10] * 50, peak)) == 5
    assert len(run_budget(100, [120] + [10] * 50, peak)) == 1


def test_a_run_given_minutes_stops_on_its_own(tmp_path, tiny_csv):
    from training import train

    run = tmp_path / "run"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--minutes", "0.3",
                "--epochs", "1000", "--batch-size", "16", "--out", str(run)])
    with open(run / "log.csv", newline="") as f:
        epochs = list(csv.DictReader(f))
    assert 1 <= len(epochs) < 1000
    assert (run / "best.keras").is_file()


def test_training_refuses_a_compiled_forward_pass_that_answers_nan(tmp_path, tiny_csv,
                                                                   monkeypatch):
    """As XLA's CPU backend in jax 0.11.2 does for bfloat16 max pooling: the run
    stops at once, saying so, rather than training with meaningless validation."""
    import keras

    from training import train

    monkeypatch.setattr(keras.Model, "predict_on_batch",
                        lambda self, x: np.full((len(x), len(EMOTIONS)), np.nan, np.float32))
    with pytest.raises(SystemExit, match="non-finite answers .*eagerly finite"):
        train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1",
                    "--batch-size", "16", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run" / "log.csv").exists()


def test_recipe_trains_teachers_side_by_side_then_a_student_from_them(tmp_path, tiny_csv):
    from training import recipe

    out = tmp_path / "recipe"
    args = ["--data", tiny_csv, "--out", str(out), "--teachers", "2",
            "--teacher-arch", "mini_xception", "--teacher-epochs", "1",
            "--student-arch", "mini_xception", "--student-epochs", "1", "--batch-size", "16"]
    recipe.main(args)
    seeds = [json.loads((out / f"teacher{i}" / "config.json").read_text())["seed"]
             for i in range(2)]
    assert seeds[0] != seeds[1]
    student = json.loads((out / "student" / "config.json").read_text())
    assert student["teacher_online"] and student["teacher"] == [
        str(out / f"teacher{i}" / "best.keras") for i in range(2)]
    assert "teachers" in (out / "student.log").read_text()  # it learnt from them
    assert (out / "student" / "best.keras").is_file()


def test_recipe_gives_its_stages_their_time_budgets():
    from training import recipe

    args = recipe.parse_args(["--teacher-minutes", "4", "--student-minutes", "5.5"])
    teacher, student = recipe.teacher_command(args, 0), recipe.student_command(args, ["t.keras"])
    assert teacher[teacher.index("--minutes") + 1] == "4.0"
    assert student[student.index("--minutes") + 1] == "5.5"
    assert "--minutes" not in recipe.teacher_command(recipe.parse_args([]), 0)


def test_recipe_names_the_log_of_a_stage_that_failed(tmp_path, tiny_csv):
    from training import recipe

    with pytest.raises(RuntimeError, match="teacher0.log"):
        recipe.main(["--data", tiny_csv, "--out", str(tmp_path / "r"), "--teachers", "1",
                     "--teacher-arch", "no_such_network", "--teacher-epochs", "1"])


def test_the_shipped_models_card_states_what_evaluate_measures():
    """The model card's PrivateTest figures are what `training.evaluate`
    computes for the shipped file, with the views the server uses."""
    from training import evaluate

    data_path = shared_file("data", "fer2013.csv.gz")
    model_path = os.path.join(os.path.dirname(__file__), "..", "models", "emotion.tflite")
    with open(os.path.splitext(model_path)[0] + ".json") as f:
        card = json.load(f)
    split = data.load_splits(data_path)["PrivateTest"]
    probabilities = evaluate.predict_split(model_path, split.images,
                                           tuple(card.get("tta_zooms", (1.0, 1.05))))
    summary = metrics.summarize(probabilities, split.labels)
    assert summary["samples"] == card["metrics"]["samples"] == 3589
    assert summary["accuracy"] == pytest.approx(card["metrics"]["accuracy"], abs=1e-4)
    assert summary["ece"] == pytest.approx(card["metrics"]["ece"], abs=1e-4)
    for label in ("fear", "disgust"):
        assert summary["per_class"][label]["recall"] == pytest.approx(
            card["metrics"]["per_class"][label]["recall"], abs=1e-4)


JAX_TRAINING = """
import sys


class NoTensorFlow:
    \"\"\"As on a machine without TensorFlow: importing it fails.\"\"\"
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError("no TensorFlow here")


sys.meta_path.insert(0, NoTensorFlow())
import numpy as np
from training import data, evaluate, predict, train

csv, out = sys.argv[1], sys.argv[2]
common = ["--data", csv, "--arch", "mini_xception", "--epochs", "1", "--batch-size", "32"]
train.main(common + ["--out", out + "/teacher"])
train.main(common + ["--teacher", out + "/teacher/best.keras", "--teacher-online",
                     "--teacher-weight", "0.7", "--mixup", "0.2", "--ema", "0.9",
                     "--precision", "mixed_bfloat16", "--out", out + "/student"])
faces = evaluate.normalize(data.load_splits(csv)["PrivateTest"].images[..., None])
np.save(out + "/answers.npy",
        predict.predict_keras(predict.load_model(out + "/student/best.keras"), faces))
"""


JAX_BATCHES = """
import sys
import keras
import numpy as np
from training import data, models
from training.batches import Batches, OnlineTeacher, augmenter

csv, teacher_path = sys.argv[1], sys.argv[2]
models.build("mini_xception").save(teacher_path)
split = data.load_splits(csv)["Training"]
targets = split.targets()


def batches(compile):
    made = Batches(split.images, targets, np.ones(len(targets), np.float32), 16,
                   augment=augmenter(5), seed=5, mixup_alpha=0.2,
                   teacher=OnlineTeacher([teacher_path], (1.0, 1.05)), teacher_weight=0.5)
    if not compile:
        made.transform = made.transformed
    return [[keras.ops.convert_to_numpy(t) for t in made[i]] for i in range(3)]


compiled, eager = batches(True), batches(False)
for one, other in zip(compiled, eager):
    for a, b in zip(one, other):
        print("gap", float(np.abs(a - b).max()))
print("step", float(np.abs(compiled[0][0] - compiled[1][0]).max()))
"""


def test_on_jax_a_batch_is_one_compiled_program_that_answers_as_eager_ops_do(tmp_path,
                                                                             tiny_csv):
    """On JAX the augmentation, mixup and online teacher of a batch run as one
    compiled program (eagerly, each op costs a dispatch): batch after batch, its
    faces, targets and weights are the eager ones, its random state advancing."""
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    finished = subprocess.run(
        [sys.executable, "-c", JAX_BATCHES, tiny_csv, str(tmp_path / "teacher.keras")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = finished.stdout.split("\n")
    gaps = [float(line.split()[1]) for line in lines if line.startswith("gap")]
    assert len(gaps) == 9 and max(gaps) < 1e-3, gaps
    step = [float(line.split()[1]) for line in lines if line.startswith("step")]
    assert step[0] > 0.5  # consecutive batches are other faces, augmented anew


def test_training_runs_on_jax_without_tensorflow_and_its_model_exports(tmp_path, tiny_csv):
    """The same training code runs on Keras' JAX backend, as on a GPU machine with
    no TensorFlow (importing it fails there): a teacher, then a student with that
    teacher online, mixup, weight averaging and bfloat16; its model exports (on
    TensorFlow) to a TFLite file that answers as the JAX-trained model did."""
    from training import evaluate, export, predict

    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    finished = subprocess.run([sys.executable, "-c", JAX_TRAINING, tiny_csv, str(tmp_path)],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "backend: jax" in finished.stdout
    jax_answers = np.load(tmp_path / "answers.npy")
    assert np.allclose(jax_answers.sum(axis=1), 1.0, atol=1e-4)

    tflite = export.export(str(tmp_path / "student" / "best.keras"), str(tmp_path / "export"))
    faces = evaluate.normalize(data.load_splits(tiny_csv)["PrivateTest"].images[..., None])
    assert np.abs(predict.predict_tflite(tflite, faces) - jax_answers).max() < 1e-4


def test_equalised_crops_see_dim_light_much_as_clean_light():
    """Histogram equalisation undoes a monotone change of the light (the dim-light
    protocol without its noise) up to rounding: the reason it is the crops'
    normalisation (models/README.md)."""
    from training import camera
    from webapp.vision.preprocess import normalize_light

    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48)).astype(np.uint8)
    faces = np.stack([cv2.GaussianBlur(face, (0, 0), 3) for face in faces])  # smooth, like faces
    dimmed = camera.dim_protocol(faces, noise=0.0)
    assert np.abs(faces.astype(float) - dimmed).mean() > 60
    gaps = {method: np.abs(normalize_light(faces, method).astype(float)
                           - normalize_light(dimmed, method)).mean()
            for method in ("equalize", "clahe")}
    assert gaps["equalize"] < 12 and gaps["clahe"] > 3 * gaps["equalize"], gaps
    assert normalize_light(faces, "none") is faces
    assert normalize_light(faces[0], "equalize").shape == (48, 48)
    with pytest.raises(ValueError, match="unknown crop normalisation"):
        normalize_light(faces, "gamma")


def test_dim_light_protocol_is_the_issues_formula_with_seeded_noise():
    from training import camera

    faces = np.full((2, 48, 48), 200, np.uint8)
    quiet = camera.dim_protocol(faces, noise=0.0)
    assert np.all(quiet == np.uint8(255 * 0.45 * (200 / 255) ** 1.8))
    assert np.array_equal(camera.dim_protocol(faces), camera.dim_protocol(faces))
    assert 2 < np.std(camera.dim_protocol(faces).astype(float)) < 6


def test_camera_degradation_keeps_shape_and_type_and_changes_most_faces():
    from training import camera

    faces = np.random.default_rng(1).integers(0, 256, (200, 48, 48)).astype(np.uint8)
    degraded = camera.degrade(faces, np.random.default_rng(2))
    assert degraded.shape == faces.shape and degraded.dtype == np.uint8
    changed = np.abs(degraded.astype(int) - faces).reshape(200, -1).mean(axis=1) > 0.5
    assert 0.5 < changed.mean() < 0.9  # about a third are left as they are
    assert np.array_equal(degraded, camera.degrade(faces, np.random.default_rng(2)))


def test_a_lower_darkest_gain_trains_on_nearly_dark_faces_and_the_default_is_unchanged():
    """--darkest reaches faces darker than the default allows (the smile clip at 6%
    of its light is such a face), and the default degrades exactly as before."""
    from training import camera

    bright = np.full((400, 48, 48), 230, np.uint8)
    default = camera.degrade(bright, np.random.default_rng(3))
    assert np.array_equal(default, camera.degrade(bright, np.random.default_rng(3),
                                                  darkest=camera.DARKEST))
    darker = camera.degrade(bright, np.random.default_rng(3), darkest=0.05)
    means = lambda faces: faces.reshape(len(faces), -1).mean(axis=1)
    assert means(default).min() > 25  # gain 0.2 of 230, less an uneven ramp
    assert (means(darker) < 20).sum() >= 5


def test_a_dark_video_share_films_that_share_of_faces_nearly_dark_in_few_grey_levels():
    """--dark-video: about that share of faces keep 3-12% of their light, in the few
    grey levels a dimmed video leaves; without it, degrading is exactly as before."""
    from training import camera

    ramp = np.tile(np.linspace(40, 250, 48).astype(np.uint8), (48, 1))
    faces = np.stack([ramp] * 400)
    plain = camera.degrade(faces, np.random.default_rng(4))
    assert np.array_equal(plain, camera.degrade(faces, np.random.default_rng(4),
                                                dark_video_share=0.0))
    dark = camera.degrade(faces, np.random.default_rng(4), dark_video_share=0.25)
    filmed_dark = np.array([face.max() <= 40 and len(np.unique(face)) <= 36 for face in dark])
    assert 0.18 < filmed_dark.mean() < 0.32
    assert not any(face.max() <= 40 for face in plain)
    one = camera.dark_video(ramp, np.random.default_rng(5))
    assert one.shape == ramp.shape and one.dtype == np.uint8
    assert np.corrcoef(one.ravel().astype(float), ramp.ravel())[0, 1] > 0.8  # still the face


def test_a_model_trained_on_equalised_crops_is_served_on_equalised_crops(tmp_path, tiny_csv):
    """--light goes from the run into the exported card, and the server's classifier
    and training.evaluate both normalise the crops as the card says."""
    from training import evaluate, export, predict, train
    from webapp.vision.classify import EmotionClassifier
    from webapp.vision.preprocess import normalize_light

    run = tmp_path / "run"
    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1",
                "--batch-size", "32", "--light", "equalize", "--camera", "--darkest", "0.05",
                "--out", str(run)])
    assert predict.model_light(str(run / "best.keras")) == "equalize"
    assert json.loads((run / "config.json").read_text())["darkest"] == 0.05
    tflite_path = export.export(str(run / "best.keras"), str(tmp_path / "models"),
                                tta_zooms=())
    card = json.loads((tmp_path / "models" / "emotion.json").read_text())
    assert card["crop_normalisation"] == "equalize"

    faces = data.load_splits(tiny_csv)["PrivateTest"].images[:8]
    by_hand = predict.predict_tflite(
        tflite_path, evaluate.normalize(normalize_light(faces, "equalize")[..., None]))
    served = EmotionClassifier(tflite_path).predict(list(faces))
    assert np.allclose(served, by_hand, atol=1e-5)
    assert np.allclose(evaluate.predict_split(tflite_path, faces), by_hand, atol=1e-5)
    unnormalised = predict.predict_tflite(tflite_path, evaluate.normalize(faces[..., None]))
    assert not np.allclose(served, unnormalised, atol=1e-3)


def test_members_are_put_together_into_one_model_served_and_scored_alike(tmp_path,
                                                                         single_network):
    """training.members writes a card naming each member; the server's classifier
    and training.evaluate answer it the same way."""
    import shutil

    from training import evaluate, members
    from webapp.vision.classify import EmotionClassifier

    shipped = single_network  # one network with a card of its own
    second = tmp_path / "b" / "emotion.tflite"
    second.parent.mkdir()
    shutil.copy(shipped, second)
    card = json.loads(open(shipped.replace(".tflite", ".json")).read())
    card["crop_normalisation"] = "none"
    (tmp_path / "b" / "emotion.json").write_text(json.dumps(card))
    path = members.assemble([shipped, str(second)], str(tmp_path / "out"), weights=[2, 1])
    written = json.loads((tmp_path / "out" / "emotion.json").read_text())
    assert [m["file"] for m in written["members"]] == ["emotion.tflite", "emotion_2.tflite"]
    assert [m["reads_posterised"] for m in written["members"]] == [True, True]
    assert [m["crop_normalisation"] for m in written["members"]] == ["equalize", "none"]
    assert [m["weight"] for m in written["members"]] == [2.0, 1.0]
    assert "tta_zooms" not in written and written["labels"] == list(EMOTIONS)

    faces = np.random.default_rng(3).integers(0, 256, (5, 48, 48)).astype(np.uint8)
    served = EmotionClassifier(path).predict(list(faces))
    assert EmotionClassifier(path).max_views == 8
    assert np.allclose(evaluate.predict_split(path, faces, (1.0, 1.05)), served, atol=1e-6)
    alone = EmotionClassifier(shipped).predict(list(faces))
    assert not np.allclose(served, alone, atol=1e-3)

    # The second member marked as not reading posterised crops: a dark face is the first's.
    members.main([shipped, str(second), "--out-dir", str(tmp_path / "dark"), "--weights", "2,1",
                  "--not-posterised", "2"])
    written = json.loads((tmp_path / "dark" / "emotion.json").read_text())
    assert [m["reads_posterised"] for m in written["members"]] == [True, False]
    assert written["posterised_grey_levels"] == 24
    dark = np.random.default_rng(4).integers(0, 12, (2, 48, 48)).astype(np.uint8)
    abstaining = EmotionClassifier(str(tmp_path / "dark" / "emotion.tflite"))
    first_alone = EmotionClassifier(shipped).predict(list(dark))
    assert np.allclose(abstaining.predict(list(dark)), first_alone, atol=1e-5)
    assert not np.allclose(EmotionClassifier(path).predict(list(dark)), first_alone, atol=1e-3)
    assert np.allclose(abstaining.predict(list(faces)), served, atol=1e-6)


def test_a_member_is_added_to_a_model_put_together_before(tmp_path, single_network):
    """--base keeps the earlier members as their card says (files, weights, offsets,
    posterised votes) and adds the new ones after; the result is the model that naming
    every member at once would have made, and the server answers both alike."""
    import shutil

    from training import members
    from webapp.vision.classify import EmotionClassifier

    card = json.loads(open(single_network.replace(".tflite", ".json")).read())
    paths = []
    for letter, bias in (("a", 0.0), ("b", 0.7), ("c", -0.4)):
        folder = tmp_path / letter
        folder.mkdir()
        shutil.copy(single_network, folder / "emotion.tflite")
        (folder / "emotion.json").write_text(json.dumps(dict(card, class_bias={"fear": bias})))
        paths.append(str(folder / "emotion.tflite"))

    members.assemble(paths[:2], str(tmp_path / "two"), weights=[2, 1], not_posterised={2})
    members.main([paths[2], "--base", str(tmp_path / "two" / "emotion.json"),
                  "--out-dir", str(tmp_path / "added")])
    members.assemble(paths, str(tmp_path / "all"), weights=[2, 1, 1], not_posterised={2})
    added = json.loads((tmp_path / "added" / "emotion.json").read_text())
    at_once = json.loads((tmp_path / "all" / "emotion.json").read_text())
    assert added == at_once
    assert [m["weight"] for m in added["members"]] == [2.0, 1.0, 1.0]
    assert [m["reads_posterised"] for m in added["members"]] == [True, False, True]
    assert [m["class_bias"] for m in added["members"]] == [{"fear": b} for b in (0.0, 0.7, -0.4)]

    faces = np.random.default_rng(5).integers(0, 256, (4, 48, 48)).astype(np.uint8)
    served = EmotionClassifier(str(tmp_path / "added" / "emotion.tflite")).predict(list(faces))
    assert np.allclose(served, EmotionClassifier(str(tmp_path / "all" / "emotion.tflite"))
                       .predict(list(faces)), atol=1e-6)

    # Weights given for every member replace the card's; a count that does not fit, or a
    # network made for another input, is refused with the reason.
    members.main([paths[2], "--base", str(tmp_path / "two" / "emotion.json"),
                  "--out-dir", str(tmp_path / "reweighed"), "--weights", "1,1,3"])
    reweighed = json.loads((tmp_path / "reweighed" / "emotion.json").read_text())
    assert [m["weight"] for m in reweighed["members"]] == [1.0, 1.0, 3.0]
    with pytest.raises(SystemExit):
        members.main([paths[2], "--base", str(tmp_path / "two" / "emotion.json"),
                      "--out-dir", str(tmp_path / "bad"), "--weights", "1,3"])
    with pytest.raises(SystemExit):
        members.main([paths[2], "--base", str(tmp_path / "two" / "emotion.json"),
                      "--out-dir", str(tmp_path / "bad"), "--not-posterised", "4"])
    # A member out of the rotation stays out when another is added after it.
    members.main([paths[1], paths[0], "--out-dir", str(tmp_path / "wide"),
                  "--not-in-rotation", "2"])
    members.main([paths[2], "--base", str(tmp_path / "wide" / "emotion.json"),
                  "--out-dir", str(tmp_path / "wide_added")])
    wide_added = json.loads((tmp_path / "wide_added" / "emotion.json").read_text())
    assert [m["in_rotation"] for m in wide_added["members"]] == [True, False, True]
    assert all(m["in_rotation"] for m in added["members"])
    with pytest.raises(SystemExit):
        members.main([paths[2], "--base", str(tmp_path / "wide" / "emotion.json"),
                      "--out-dir", str(tmp_path / "bad"), "--not-in-rotation", "1,3"])
    with pytest.raises(ValueError, match="names no members"):
        members.assemble([paths[2]], str(tmp_path / "bad"), base=paths[0].replace(".tflite", ".json"))
    (tmp_path / "c" / "emotion.json").write_text(json.dumps(dict(card, input_size=[64, 64])))
    with pytest.raises(ValueError, match="input_size"):
        members.assemble([paths[2]], str(tmp_path / "bad"), base=str(tmp_path / "two" / "emotion.json"))


def test_a_fitted_temperature_makes_an_under_confident_model_say_how_often_it_is_right():
    from training.calibrate import fit_temperature
    from training.metrics import expected_calibration_error
    from webapp.vision.preprocess import with_temperature

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 7, 4000)
    logits = rng.normal(0, 1, (4000, 7))
    logits[np.arange(4000), labels] += 2.0
    # The true label's score is drawn from N(2, 1), the others' from N(0, 1): the
    # exact posterior is softmax(2 * logits), a model calibrated by construction.
    calibrated = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)
    timid = with_temperature(calibrated, 2.0)  # the same answers, half as sure
    temperature = fit_temperature(timid, labels)
    assert 0.4 <= temperature <= 0.6
    before = expected_calibration_error(timid, labels)
    after = expected_calibration_error(with_temperature(timid, temperature), labels)
    assert before > 0.1 and after < 0.04


def test_calibration_writes_a_temperature_that_evaluate_and_the_server_then_apply(
        tmp_path, tiny_csv, single_network, capsys):
    import shutil

    from training import calibrate, evaluate
    from webapp.vision.classify import EmotionClassifier
    from webapp.vision.preprocess import with_temperature

    path = str(tmp_path / "emotion.tflite")
    shutil.copy(single_network, path)
    shutil.copy(single_network.replace(".tflite", ".json"), tmp_path / "emotion.json")
    faces = np.random.default_rng(8).integers(0, 256, (6, 48, 48)).astype(np.uint8)
    before = evaluate.predict_split(path, faces, (1.0, 1.05))
    calibrate.main([path, "--data", tiny_csv])
    assert "calibration error" in capsys.readouterr().out
    card = json.loads((tmp_path / "emotion.json").read_text())
    temperature = card["temperature"]
    assert 0.3 <= temperature <= 2.0 and temperature != 1.0
    assert "PublicTest" in card["temperature_note"]
    expected = with_temperature(before, temperature)
    assert np.allclose(evaluate.predict_split(path, faces, (1.0, 1.05)), expected, atol=1e-5)
    assert np.allclose(EmotionClassifier(path).predict(list(faces)), expected, atol=1e-5)
    evaluate.main([path, "--data", tiny_csv, "--tta", "--card"])
    card = json.loads((tmp_path / "emotion.json").read_text())
    assert card["temperature"] == temperature and card["metrics"]["samples"] > 0
    assert 0 <= card["metrics"]["ece"] <= 1


def test_a_face_weighs_what_its_row_in_the_file_says_wherever_the_holdout_moved_it(
        tmp_path, tiny_csv):
    from training import train

    training = data.load_splits(tiny_csv, holdout=35)["Training"]
    assert len(training) == 224 - 35 and training.rows.max() > len(training)
    per_row = np.arange(1, 200, dtype=np.float32)  # rows 199 and later are past its end
    class_weight = np.where(training.labels == 0, 2.0, 1.0).astype(np.float32)
    args = types.SimpleNamespace(face_weights=None)
    assert train.sample_weights(args, training, class_weight) is class_weight
    np.save(tmp_path / "weights.npy", per_row)
    with_rows = train.sample_weights(
        types.SimpleNamespace(face_weights=str(tmp_path / "weights.npy")), training, class_weight)
    expected = class_weight * np.where(training.rows < 199, training.rows + 1, 1)
    assert np.allclose(with_rows, expected * class_weight.sum() / expected.sum())
    assert np.isclose(with_rows.mean(), class_weight.mean())


def test_the_faces_an_ensemble_gets_wrong_weigh_more_unless_fer_plus_doubts_their_label(
        tmp_path, tiny_csv, single_network, capsys):
    from training import face_weights, train
    from training.evaluate import predict_split

    votes = write_ferplus_csv(tmp_path / "ferplus.csv")
    out = tmp_path / "weights.npy"
    face_weights.main([single_network, "--data", tiny_csv, "--ferplus", votes, "--wrong", "3",
                       "--out", str(out)])
    weights = np.load(out)
    training = data.load_splits(tiny_csv, votes)["Training"]
    wrong = predict_split(single_network, training.images).argmax(axis=1) != training.labels
    # FER+ votes every face neutral: only mistakes on faces labelled neutral count.
    counted = wrong & (training.labels == EMOTIONS.index("neutral"))
    assert 0 < counted.sum() < wrong.sum()
    assert len(weights) == sum(SPLIT_SIZES.values())
    assert set(np.flatnonzero(weights == 3)) == set(training.rows[counted])
    assert np.all(np.delete(weights, training.rows[counted]) == 1)
    assert f"{counted.sum()} up-weighted to 3" in capsys.readouterr().out

    train.main(["--data", tiny_csv, "--arch", "mini_xception", "--epochs", "1",
                "--batch-size", "16", "--face-weights", str(out), "--out", str(tmp_path / "run")])
    assert f"face weights {out}: {counted.sum()} faces weigh other than 1" in \
        capsys.readouterr().out
