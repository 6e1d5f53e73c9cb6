"""Train an emotion CNN on FER-2013 (optionally FER+ votes).

    python -m training.train --data fer2013.csv.gz --arch vgg --epochs 60 --out runs/vgg

Training uses the Training split, PublicTest picks the checkpoint (best
validation accuracy); PrivateTest is left for `training.evaluate`. With
`--validation Holdout` a fixed slice of Training (`data.held_out`) picks it
instead, and `--fit-public` then trains on PublicTest too. A run
directory holds the config, a CSV log, `best.keras`, `last.keras` and a backup:
re-running the same command resumes an interrupted run where it stopped, and
re-running it with more `--epochs` extends a finished one.
Every batch is full-sized: TF 2.21's oneDNN kernels can crash on a partial one.
The code runs on any Keras backend: TensorFlow by default, or JAX on a GPU
(KERAS_BACKEND=jax; TensorFlow is then not needed to train, only to export).

`main` reads as the run goes: load -> targets -> batches -> build -> compile -> fit.
"""
import argparse
import csv
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from training import camera, data, factor, models, narrow, served, unpool  # noqa: E402
from training.batches import Batches, OnlineTeacher, augmenter  # noqa: E402
from training.schedules import TimeBudget, warmup_cosine  # noqa: E402
from training.targets import distillation_targets, teacher_targets, training_targets  # noqa: E402
from webapp.vision.preprocess import CROP_NORMALISATIONS, TTA_ZOOMS  # noqa: E402


TRAINING_CROPS = (*served.CROPS, "mixed")


def _zooms(text):
    return tuple(map(float, text.split(",")))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_argument_group("data")
    source.add_argument("--data", help=f"FER-2013 CSV (.csv or .csv.gz); default ${data.DATA_ENV}")
    source.add_argument("--ferplus", help=f"FER+ votes CSV; default ${data.FERPLUS_ENV}")
    source.add_argument("--limit", type=int, help="use only the first N rows of each split")
    source.add_argument("--validation", choices=("PublicTest", data.HOLDOUT), default="PublicTest",
                        help="the split that picks the checkpoint: PublicTest, or a fixed "
                             "slice of Training (--holdout faces) no run trains on")
    source.add_argument("--holdout", type=int, default=data.HOLDOUT_SIZE, metavar="FACES",
                        help="size of the Holdout slice (default: %(default)s)")
    source.add_argument("--fit-public", action="store_true",
                        help="also train on PublicTest (needs --validation Holdout)")
    source.add_argument("--face-weights", metavar="NPY",
                        help="a weight per FER-2013 row (training.face_weights): faces an "
                             "ensemble gets wrong weigh more")
    source.add_argument("--crops", choices=TRAINING_CROPS, default="fer",
                        help="train and validate on FER-2013's own crops, on the faces cut "
                             "as the server cuts them (training.served), or on both (mixed: "
                             "each training face is either, at random; validation on both); "
                             "teachers given as --teacher (not online) answer for FER-2013's "
                             "crops")
    source.add_argument("--plain-surround", type=float, default=0.0, metavar="SHARE",
                        help="with served or mixed crops: this share of the served crops "
                             "cut from the face in a plain surround of a random grey level "
                             "(a cropped face photo, a plain wall), the rest from its "
                             "mirrored edges")

    targets = parser.add_argument_group("targets")
    targets.add_argument("--targets", choices=("fer2013", "ferplus", "blend"), default="fer2013",
                         help="train on FER-2013 labels, FER+ vote distributions, or their mean")
    targets.add_argument("--teacher", action="append", default=[],
                         help="distil from this model (.tflite or .keras): its probabilities, "
                              "averaged over the views of --teacher-views, become part of the "
                              "targets; repeat it for an ensemble (their mean)")
    targets.add_argument("--teacher-weight", type=float, default=0.5,
                         help="share of the teacher in the targets (the rest: --targets)")
    targets.add_argument("--teacher-views", type=_zooms, default=TTA_ZOOMS,
                         help="zooms of the teacher's views (default: %(default)s; plain and "
                              "mirrored at each)")
    targets.add_argument("--teacher-online", action="store_true",
                         help="the teachers (.keras) answer each batch as the student sees it, "
                              "augmented and mixed, rather than once for the clean faces "
                              "(consistent distillation)")
    targets.add_argument("--label-smoothing", type=float, default=0.1)
    targets.add_argument("--class-weight-power", type=float, default=0.5,
                         help="0 = no class balancing, 1 = fully balanced loss")

    batches = parser.add_argument_group("batches")
    batches.add_argument("--batch-size", type=int, default=64)
    batches.add_argument("--light", choices=CROP_NORMALISATIONS, default="none",
                         help="light normalisation of each crop (preprocess.normalize_light), "
                              "in training and, through the exported card, in serving")
    batches.add_argument("--camera", action="store_true",
                         help="degrade training faces as cameras do (training.camera: dim and "
                              "uneven light, noise, blur, low resolution, JPEG) before the "
                              "light normalisation")
    batches.add_argument("--darkest", type=float, default=camera.DARKEST, metavar="GAIN",
                         help="with --camera, the least light a dim face keeps: its gain is "
                              "drawn from [GAIN, 1] (default %(default)s)")
    batches.add_argument("--dark-video", type=float, default=0.0, metavar="SHARE",
                         help="with --camera, this share of faces is filmed in a nearly dark "
                              "room instead (training.camera.dark_video: 3-12%% of the light, "
                              "few grey levels, compressed)")
    batches.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                         help="mix pairs of training faces and their targets, with weights "
                              "drawn from Beta(ALPHA, ALPHA); 0 = off")

    network = parser.add_argument_group("network")
    network.add_argument("--arch", choices=sorted(models.ARCHITECTURES), default="vgg")
    network.add_argument("--weights", help="local backbone weights file (mobilenet_v2)")
    network.add_argument("--init", help="start from this saved model's weights: a fine-tuning "
                                        "stage (a new learning-rate cycle), or a wider model's "
                                        "strongest channels (vgg into vgg_slim)")

    schedule = parser.add_argument_group("optimiser and schedule")
    schedule.add_argument("--epochs", type=int, default=60)
    schedule.add_argument("--minutes", type=float,
                          help="fit the schedule into this much training time: each epoch's "
                               "learning rate follows from the epochs that fit at the pace of "
                               "the last one, and training stops when the next would not fit "
                               "(--epochs is then the most it runs)")
    schedule.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    schedule.add_argument("--weight-decay", type=float, default=1e-4)
    schedule.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                          help="validate and keep an exponential moving average of the weights "
                               "(e.g. 0.998); 0 = off")
    schedule.add_argument("--patience", type=int, default=0, help="early stopping; 0 = off")

    run = parser.add_argument_group("run")
    run.add_argument("--out", default="runs/default", help="run directory")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = all")
    run.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                     default="float32",
                     help="mixed_bfloat16 halves step time on CPUs with AMX/AVX512-BF16")
    return parser.parse_args(argv)


def load(args):
    """(training split, validation split) as the run asks for them."""
    started = time.time()
    need_ferplus = args.targets != "fer2013"
    holding = args.validation == data.HOLDOUT
    if args.fit_public and not holding:
        sys.exit("--fit-public needs --validation Holdout: PublicTest cannot both train and choose")
    splits = data.load_splits(args.data, args.ferplus if need_ferplus else None, limit=args.limit,
                              holdout=args.holdout if holding else 0)
    train, val = splits["Training"], splits[args.validation]
    if args.fit_public:
        train = data.joined(train, splits["PublicTest"])
    print(f"data: {len(train)} training, {len(val)} validation images ({args.validation}) "
          f"({time.time() - started:.0f} s to load)", flush=True)
    if len(train) < args.batch_size or len(val) < args.batch_size:
        sys.exit(f"need at least one full batch of {args.batch_size} in each split")
    return train, val


def make_targets(args, train):
    """(training targets, the online teacher or None)."""
    train_targets = training_targets(train, args.targets)
    if args.teacher and args.teacher_online:
        print(f"teachers {', '.join(args.teacher)}: {len(args.teacher_views) * 2} views of "
              f"each batch, weight {args.teacher_weight}", flush=True)
        return train_targets, OnlineTeacher(args.teacher, args.teacher_views)
    if args.teacher:
        started = time.time()
        probabilities = teacher_targets(args.teacher, train.images, args.teacher_views,
                                        os.path.join(args.out, "teacher_targets.npy"))
        train_targets = distillation_targets(train_targets, probabilities, args.teacher_weight)
        print(f"teachers {', '.join(args.teacher)}: {len(args.teacher_views) * 2} views, weight "
              f"{args.teacher_weight} ({time.time() - started:.0f} s)", flush=True)
    return train_targets, None


def make_batches(args, train, val, train_targets, teacher):
    """(training batches, validation batches), in the crops the run asks for."""
    alternates = None
    val_images, val_targets = val.images, val.targets("fer2013")
    if args.crops != "fer":
        started = time.time()
        cut = [served.served_crops(split.images, plain_share=args.plain_surround, seed=seed)[0]
               for split, seed in ((train, args.seed), (val, 0))]
        if args.crops == "mixed":
            alternates = cut[0]
            val_images = np.concatenate([val.images, cut[1]])
            val_targets = np.concatenate([val_targets, val_targets])
        else:
            train.images, val_images = cut
        print(f"crops: {args.crops} ({time.time() - started:.0f} s)", flush=True)
    class_weight = data.class_weights(train.labels, args.class_weight_power)
    train_batches = Batches(
        train.images, train_targets, sample_weights(args, train, train_targets @ class_weight),
        args.batch_size,
        augment=augmenter(args.seed, photometric=args.light == "none"), seed=args.seed,
        mixup_alpha=args.mixup, teacher=teacher, teacher_weight=args.teacher_weight,
        alternates=alternates, camera=args.camera, darkest=args.darkest,
        dark_video_share=args.dark_video, light=args.light,
    )
    val_batches = Batches(val_images, val_targets, np.ones(len(val_images), np.float32),
                          args.batch_size, light=args.light)
    return train_batches, val_batches


def sample_weights(args, train, weights):
    """Each training face's loss weight: its class's, times its own from
    `--face-weights` (rows past the file's end weigh 1), scaled back to the same mean."""
    if not args.face_weights:
        return weights
    per_row = np.load(args.face_weights)
    per_face = np.ones(len(train), np.float32)
    inside = train.rows < len(per_row)
    per_face[inside] = per_row[train.rows[inside]]
    weighted = weights * per_face
    print(f"face weights {args.face_weights}: {np.sum(per_face != 1)} faces weigh other than 1",
          flush=True)
    return (weighted * weights.sum() / weighted.sum()).astype(np.float32)


def build(args):
    model = models.build(args.arch, **({"weights": args.weights} if args.weights else {}))
    if args.init:
        initialise_from(model, args.init)
    return model


def initialise_from(model, path):
    """Start from a saved model's weights: as they are when the shapes agree, its
    convolutions split when `model` factors them, else its strongest channels
    (a wider network of the same layers), or its pooled head spread over the cells
    of a spatial one."""
    source = keras.models.load_model(path, compile=False)
    if [w.shape for w in source.weights] == [w.shape for w in model.weights]:
        model.set_weights(source.get_weights())
        print(f"weights from {path}", flush=True)
    elif unpool.is_spatial(model) and not unpool.is_spatial(source):
        unpool.unpool_into(source, model)
        print(f"weights from {path}, spread over {model.name}'s cells", flush=True)
    elif factor.is_factored(model):
        factor.factor_into(source, model)
        print(f"weights from {path}, factored into {model.name}", flush=True)
    else:
        narrow.narrow_into(source, model)
        print(f"weights from {path}, narrowed to {model.name}", flush=True)

def compile_model(model, args, steps_per_epoch):
    if args.minutes:
        schedule = args.lr / 10  # set each epoch by TimeBudget
    else:
        total_steps = max(1, args.epochs * steps_per_epoch)
        schedule = warmup_cosine(args.lr, total_steps,
                                 warmup_steps=min(steps_per_epoch * 2, total_steps // 10))
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay,
                                         use_ema=args.ema > 0, ema_momentum=args.ema or 0.99),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=["accuracy"],
        weighted_metrics=[],
    )

def check_compiled_forward(model, x, precision):
    """Exit with a clear message when the compiled forward pass answers with NaN
    or infinity where the eager one does not: XLA's CPU backend in jax 0.11.2
    makes NaN of bfloat16 max pooling, which would otherwise train on, its
    validation meaningless."""
    compiled = np.asarray(model.predict_on_batch(x), dtype=np.float32)
    if np.isfinite(compiled).all():
        return
    eager = np.asarray(ops.convert_to_numpy(model(x, training=False)), dtype=np.float32)
    sys.exit(f"the compiled forward pass gives non-finite answers ({keras.backend.backend()} "
             f"backend, precision {precision}; eagerly "
             f"{'finite' if np.isfinite(eager).all() else 'also non-finite'}): "
             "try --precision float32 or another version of the backend")

def best_logged(log_path):
    """The best validation accuracy in a run's log (None if it has none): a
    resumed run replaces its best.keras only with a better epoch."""
    if not os.path.isfile(log_path):
        return None
    with open(log_path, newline="") as f:
        scores = [float(row["val_accuracy"]) for row in csv.DictReader(f)
                  if row.get("val_accuracy")]
    return max(scores, default=None)

def limit_threads(threads):
    """CPU threads for TensorFlow's kernels (other backends: their own settings)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def callbacks(args):
    """Checkpoints (best and last), a backup to resume from, the log, and the
    time budget or early stopping when asked for."""
    best_path, log_path = os.path.join(args.out, "best.keras"), os.path.join(args.out, "log.csv")
    chosen = [
        # Kept after the run ends, so re-running with more --epochs extends it.
        keras.callbacks.BackupAndRestore(os.path.join(args.out, "backup"),
                                         delete_checkpoint=False),
        # With --ema, the checkpoints below hold the averaged weights.
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if args.ema else []),
        keras.callbacks.ModelCheckpoint(
            best_path, monitor="val_accuracy", mode="max", save_best_only=True, verbose=1,
            initial_value_threshold=best_logged(log_path) if os.path.isfile(best_path) else None,
        ),
        keras.callbacks.ModelCheckpoint(os.path.join(args.out, "last.keras")),
        keras.callbacks.CSVLogger(log_path, append=True),
    ]
    if args.minutes:
        chosen.append(TimeBudget(args.minutes * 60, args.lr))
    if args.patience:
        chosen.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=args.patience))
    return chosen


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    keras.mixed_precision.set_global_policy(args.precision)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(vars(args), f, indent=2)
    started = time.time()
    print(f"backend: {keras.backend.backend()}, precision {args.precision}", flush=True)

    train, val = load(args)
    train_targets, teacher = make_targets(args, train)
    train_batches, val_batches = make_batches(args, train, val, train_targets, teacher)
    model = build(args)
    compile_model(model, args, steps_per_epoch=len(train) // args.batch_size)
    check_compiled_forward(model, val_batches[0][0], args.precision)
    model.summary(print_fn=lambda line, **_: print(line), line_length=100)
    model.fit(train_batches, validation_data=val_batches, epochs=args.epochs,
              callbacks=callbacks(args), verbose=1 if sys.stdout.isatty() else 2)

    print(f"done in {(time.time() - started) / 60:.1f} min; best model: "
          f"{os.path.join(args.out, 'best.keras')}", flush=True)


if __name__ == "__main__":
    main()
