"""Train an emotion CNN on FER-2013 (optionally FER+ votes).

    python -m training.train --data fer2013.csv.gz --arch vgg --epochs 60 --out runs/vgg

Training uses the Training split, PublicTest picks the checkpoint (best
validation accuracy); PrivateTest is left for `training.evaluate`. A run
directory holds the config, a CSV log, `best.keras`, `last.keras` and a backup:
re-running the same command resumes an interrupted run where it stopped, and
re-running it with more `--epochs` extends a finished one.
Every batch is full-sized: TF 2.21's oneDNN kernels can crash on a partial one.
The code runs on any Keras backend: TensorFlow by default, or JAX on a GPU
(KERAS_BACKEND=jax; TensorFlow is then not needed to train, only to export).
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

from training import camera, data, factor, models, narrow, served  # noqa: E402
from webapp.vision.preprocess import (  # noqa: E402
    CROP_NORMALISATIONS, INPUT_OFFSET, INPUT_SCALE, TTA_ZOOMS, normalize_light,
)


TRAINING_CROPS = (*served.CROPS, "mixed")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help=f"FER-2013 CSV (.csv or .csv.gz); default ${data.DATA_ENV}")
    parser.add_argument("--ferplus", help=f"FER+ votes CSV; default ${data.FERPLUS_ENV}")
    parser.add_argument("--targets", choices=("fer2013", "ferplus", "blend"), default="fer2013",
                        help="train on FER-2013 labels, FER+ vote distributions, or their mean")
    parser.add_argument("--teacher", action="append", default=[],
                        help="distil from this model (.tflite or .keras): its probabilities, "
                             "averaged over the views of --teacher-views, become part of the "
                             "targets; repeat it for an ensemble (their mean)")
    parser.add_argument("--teacher-weight", type=float, default=0.5,
                        help="share of the teacher in the targets (the rest: --targets)")
    parser.add_argument("--teacher-views", type=lambda text: tuple(map(float, text.split(","))),
                        default=TTA_ZOOMS, help="zooms of the teacher's views (default: "
                                                "%(default)s; plain and mirrored at each)")
    parser.add_argument("--teacher-online", action="store_true",
                        help="the teachers (.keras) answer each batch as the student sees it, "
                             "augmented and mixed, rather than once for the clean faces "
                             "(consistent distillation)")
    parser.add_argument("--crops", choices=TRAINING_CROPS, default="fer",
                        help="train and validate on FER-2013's own crops, on the faces cut "
                             "as the server cuts them (training.served), or on both (mixed: "
                             "each training face is either, at random; validation on both); "
                             "teachers given as --teacher (not online) answer for FER-2013's "
                             "crops")
    parser.add_argument("--light", choices=CROP_NORMALISATIONS, default="none",
                        help="light normalisation of each crop (preprocess.normalize_light), "
                             "in training and, through the exported card, in serving")
    parser.add_argument("--camera", action="store_true",
                        help="degrade training faces as cameras do (training.camera: dim and "
                             "uneven light, noise, blur, low resolution, JPEG) before the "
                             "light normalisation")
    parser.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                        help="mix pairs of training faces and their targets, with weights "
                             "drawn from Beta(ALPHA, ALPHA); 0 = off")
    parser.add_argument("--arch", choices=sorted(models.ARCHITECTURES), default="vgg")
    parser.add_argument("--weights", help="local backbone weights file (mobilenet_v2)")
    parser.add_argument("--init", help="start from this saved model's weights: a fine-tuning "
                                       "stage (a new learning-rate cycle), or a wider model's "
                                       "strongest channels (vgg into vgg_slim)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--minutes", type=float,
                        help="fit the schedule into this much training time: each epoch's "
                             "learning rate follows from the epochs that fit at the pace of "
                             "the last one, and training stops when the next would not fit "
                             "(--epochs is then the most it runs)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--class-weight-power", type=float, default=0.5,
                        help="0 = no class balancing, 1 = fully balanced loss")
    parser.add_argument("--patience", type=int, default=0, help="early stopping; 0 = off")
    parser.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                        help="validate and keep an exponential moving average of the weights "
                             "(e.g. 0.998); 0 = off")
    parser.add_argument("--limit", type=int, help="use only the first N rows of each split")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="runs/default", help="run directory")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = all")
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                        default="float32",
                        help="mixed_bfloat16 halves step time on CPUs with AMX/AVX512-BF16")
    return parser.parse_args(argv)


def augmenter(seed, photometric=True):
    """Augmentation fit for faces: mirror, small shifts/rotations/zoom,
    brightness/contrast (unless `photometric` is off: the crops' light is then
    normalised before this), random erasing. Works on 0..255 pixels."""
    light = [
        keras.layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed),
        keras.layers.RandomContrast(0.3, value_range=(0, 255), seed=seed),
    ] if photometric else []
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed),
            keras.layers.RandomRotation(12 / 360, fill_mode="reflect", seed=seed),
            keras.layers.RandomZoom((-0.15, 0.15), fill_mode="reflect", seed=seed),
            *light,
            keras.layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), value_range=(0, 255),
                                       seed=seed),
        ],
        name="augment",
    )


def mixup(x, y, w, alpha, seed=None):
    """Each face blended with another of the batch, targets and weights alike,
    by a weight drawn from Beta(alpha, alpha) per face."""
    batch = ops.shape(x)[0]
    first = keras.random.gamma((batch,), alpha, seed=seed)
    second = keras.random.gamma((batch,), alpha, seed=seed)
    share = first / (first + second)
    partner = keras.random.shuffle(ops.arange(batch), seed=seed)
    blend = lambda a, b, s: s * a + (1.0 - s) * b  # noqa: E731
    return (blend(x, ops.take(x, partner, axis=0), share[:, None, None, None]),
            blend(y, ops.take(y, partner, axis=0), share[:, None]),
            blend(w, ops.take(w, partner, axis=0), share))


def zoomed(x, zoom):
    """A batch of faces showing `zoom` times their width around the centre, edges
    mirrored: `preprocess.tta_views`' zoom, on the backend's tensors."""
    height, width = x.shape[1], x.shape[2]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    transform = ops.convert_to_tensor(
        [[zoom, 0, cx * (1 - zoom), 0, zoom, cy * (1 - zoom), 0, 0]], "float32")
    return ops.image.affine_transform(x, ops.tile(transform, [ops.shape(x)[0], 1]),
                                      interpolation="bilinear", fill_mode="reflect")


class OnlineTeacher:
    """A function of a normalised batch: the teachers' probabilities, each averaged
    over its views (plain and mirrored at each zoom), then over the teachers."""

    def __init__(self, teacher_paths, zooms):
        self.teachers = [keras.models.load_model(path, compile=False) for path in teacher_paths]
        self.zooms = zooms
        self.variables = [v for teacher in self.teachers for v in teacher.variables]

    def __call__(self, x):
        probabilities = sum(ops.cast(teacher(views(x, self.zooms), training=False), "float32")
                            for teacher in self.teachers) / len(self.teachers)
        per_view = ops.reshape(probabilities, (2 * len(self.zooms), ops.shape(x)[0], -1))
        return ops.mean(per_view, axis=0)


def compiled(function, variables):
    """`function` of tensors as one compiled program on JAX, the variables it reads
    or advances (random seed states, teacher weights) passed in and their new
    values kept; `function` itself on other backends. Run eagerly on JAX, every op
    of a batch costs a dispatch: 37 ms for the augmentation alone of a batch of two
    faces on a CPU (1.7 ms compiled), longer than a training step on a GPU."""
    if keras.backend.backend() != "jax":
        return function
    import jax

    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            outputs = function(*args)
        return outputs, [scope.get_current_value(v) for v in variables]

    program = jax.jit(stateless)
    values = [v.value for v in variables]

    def run(*args):
        nonlocal values
        outputs, values = program(values, *args)
        return outputs

    return run


def views(x, zooms):
    """`preprocess.tta_views` of a batch: view-major, each zoom plain and mirrored."""
    stacked = []
    for zoom in zooms:
        view = x if zoom == 1.0 else zoomed(x, zoom)
        stacked += [view, ops.flip(view, axis=2)]
    return ops.concatenate(stacked, axis=0)


class Batches(keras.utils.PyDataset):
    """Full-sized batches (x, y, sample_weight) of normalised faces, made with
    the backend's own ops (TensorFlow on a CPU, JAX on a GPU). With `augment`,
    shuffled each epoch, augmented and mixed; with `teacher` (a function of the
    model's input), its answer for the batch as given to the model makes up
    `teacher_weight` of the targets; with `alternates` (another version of each
    image), each face of a batch is one or the other, at random; with `camera`,
    faces degraded as cameras do (training.camera); then each crop's `light`
    normalised (preprocess.normalize_light)."""

    def __init__(self, images, targets, weights, batch_size, augment=None, seed=0,
                 mixup_alpha=0.0, teacher=None, teacher_weight=0.0, alternates=None,
                 camera=False, light="none"):
        super().__init__()
        self.images, self.targets, self.weights = images, targets, weights
        self.alternates = alternates
        self.camera, self.light = camera, light
        self.batch_size, self.augment = batch_size, augment
        self.mixup_alpha, self.teacher, self.teacher_weight = mixup_alpha, teacher, teacher_weight
        self.order = np.arange(len(images))
        self.shuffler = np.random.default_rng(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        variables = [self.seed_generator.state, *getattr(teacher, "variables", [])]
        if augment is not None:
            augment.build((None, *images.shape[1:], 1))
            variables += augment.variables
        self.transform = compiled(self.transformed, variables)
        self.on_epoch_end()

    def __len__(self):
        return len(self.images) // self.batch_size

    def on_epoch_end(self):
        if self.augment is not None:
            self.shuffler.shuffle(self.order)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.images[rows]
        if self.alternates is not None:
            swapped = self.shuffler.random(len(rows)) < 0.5
            images = np.where(swapped[:, None, None], self.alternates[rows], images)
        if self.camera:
            images = camera.degrade(images, self.shuffler)
        images = normalize_light(images, self.light)
        x = ops.convert_to_tensor(images[..., None], "float32")
        y = ops.convert_to_tensor(self.targets[rows], "float32")
        w = ops.convert_to_tensor(self.weights[rows], "float32")
        return self.transform(x, y, w)

    def transformed(self, x, y, w):
        """The batch augmented, mixed, normalised and (with a teacher) its targets
        blended with the teacher's answers."""
        if self.augment is not None:
            # Under a mixed-precision policy the augmentation layers answer in 16 bits.
            x = ops.cast(ops.clip(self.augment(x, training=True), 0.0, 255.0), "float32")
        if self.mixup_alpha > 0:
            x, y, w = mixup(x, y, w, self.mixup_alpha, seed=self.seed_generator)
        x = x * INPUT_SCALE + INPUT_OFFSET
        if self.teacher is not None:
            y = (1.0 - self.teacher_weight) * y + self.teacher_weight * self.teacher(x)
        return x, y, w


def training_targets(split, source):
    if source == "blend":
        return 0.5 * split.targets("fer2013") + 0.5 * split.targets("ferplus")
    return split.targets(source)


def teacher_targets(teacher_paths, images, views, cache_path):
    """The teachers' probabilities for `images`, each averaged over its views, then
    over the teachers; kept in `cache_path` (with a note of what made them) so that
    a resumed run does not compute them again."""
    made_by = {"teachers": [os.path.abspath(path) for path in teacher_paths],
               "views": list(views), "images": len(images)}
    note_path = os.path.splitext(cache_path)[0] + ".json"
    if os.path.isfile(cache_path) and os.path.isfile(note_path):
        with open(note_path) as f:
            if json.load(f) == made_by:
                return np.load(cache_path)
    from training.evaluate import predict_split

    probabilities = np.mean([predict_split(path, images, views) for path in teacher_paths],
                            axis=0).astype(np.float32)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.save(cache_path, probabilities)
    with open(note_path, "w") as f:
        json.dump(made_by, f, indent=2)
    return probabilities


def distillation_targets(base_targets, teacher_probabilities, teacher_weight):
    """Mix of the data's targets and the teacher's: each row still sums to one."""
    return ((1.0 - teacher_weight) * base_targets
            + teacher_weight * teacher_probabilities).astype(np.float32)


def initialise_from(model, path):
    """Start from a saved model's weights: as they are when the shapes agree, its
    convolutions split when `model` factors them, else its strongest channels
    (a wider network of the same layers)."""
    source = keras.models.load_model(path, compile=False)
    if [w.shape for w in source.weights] == [w.shape for w in model.weights]:
        model.set_weights(source.get_weights())
        print(f"weights from {path}", flush=True)
    elif factor.is_factored(model):
        factor.factor_into(source, model)
        print(f"weights from {path}, factored into {model.name}", flush=True)
    else:
        narrow.narrow_into(source, model)
        print(f"weights from {path}, narrowed to {model.name}", flush=True)


def warmup_cosine(peak, total_steps, warmup_steps):
    """The learning-rate schedule of a run: a linear warm-up from peak/10 over
    `warmup_steps`, then a cosine decay to peak/100 at `total_steps`."""
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10,
        decay_steps=total_steps - warmup_steps,
        warmup_target=peak,
        warmup_steps=warmup_steps,
        alpha=0.01,
    )


class TimeBudget(keras.callbacks.Callback):
    """Runs the warm-up and cosine schedule over `seconds` of training rather
    than a number of epochs: at each epoch the epochs that fit are estimated at
    the pace of the last one, and training stops once the next epoch would not
    fit (after the first, which includes compiling, only once the time is up).
    A resumed run gets a new budget."""

    def __init__(self, seconds, peak, clock=time.monotonic):
        super().__init__()
        self.seconds, self.clock = seconds, clock
        # The schedule over progress in thousandths, its first tenth the warm-up.
        self.schedule = warmup_cosine(peak, total_steps=1000, warmup_steps=100)
        self.started = self.epoch_started = self.pace = None

    def on_train_begin(self, logs=None):
        self.started = self.clock()

    def expected_epochs(self, epoch):
        """Epochs of the whole run, this one included, at the latest pace."""
        if self.pace is None:
            return None
        left = self.seconds - (self.clock() - self.started)
        return epoch + max(1, int(left // self.pace))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = self.clock()
        total = self.expected_epochs(epoch)
        progress = 0.0 if total is None else epoch / total
        rate = self.schedule(round(progress * 1000))
        self.model.optimizer.learning_rate = float(ops.convert_to_numpy(rate))

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        first = self.pace is None  # its time includes compiling: not the pace
        self.pace = now - self.epoch_started
        if now - self.started + (0 if first else self.pace) > self.seconds:
            self.model.stop_training = True


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
    need_ferplus = args.targets != "fer2013"
    splits = data.load_splits(args.data, args.ferplus if need_ferplus else None, limit=args.limit)
    train, val = splits["Training"], splits["PublicTest"]
    print(f"backend: {keras.backend.backend()}, precision {args.precision}", flush=True)
    print(f"data: {len(train)} training, {len(val)} validation images "
          f"({time.time() - started:.0f} s to load)", flush=True)
    if len(train) < args.batch_size or len(val) < args.batch_size:
        sys.exit(f"need at least one full batch of {args.batch_size} in each split")

    class_weight = data.class_weights(train.labels, args.class_weight_power)
    train_targets = training_targets(train, args.targets)
    online = None
    if args.teacher and args.teacher_online:
        online = OnlineTeacher(args.teacher, args.teacher_views)
        print(f"teachers {', '.join(args.teacher)}: {len(args.teacher_views) * 2} views of "
              f"each batch, weight {args.teacher_weight}", flush=True)
    elif args.teacher:
        started_teacher = time.time()
        teacher_probabilities = teacher_targets(args.teacher, train.images, args.teacher_views,
                                                os.path.join(args.out, "teacher_targets.npy"))
        train_targets = distillation_targets(train_targets, teacher_probabilities,
                                             args.teacher_weight)
        print(f"teachers {', '.join(args.teacher)}: {len(args.teacher_views) * 2} views, weight "
              f"{args.teacher_weight} ({time.time() - started_teacher:.0f} s)", flush=True)
    alternates = None
    val_images, val_targets = val.images, val.targets("fer2013")
    if args.crops != "fer":
        started_crops = time.time()
        cut = [served.served_crops(split.images)[0] for split in (train, val)]
        if args.crops == "mixed":
            alternates = cut[0]
            val_images = np.concatenate([val.images, cut[1]])
            val_targets = np.concatenate([val_targets, val_targets])
        else:
            train.images, val_images = cut
        print(f"crops: {args.crops} ({time.time() - started_crops:.0f} s)", flush=True)
    train_ds = Batches(
        train.images, train_targets, train_targets @ class_weight, args.batch_size,
        augment=augmenter(args.seed, photometric=args.light == "none"), seed=args.seed,
        mixup_alpha=args.mixup, teacher=online, teacher_weight=args.teacher_weight,
        alternates=alternates, camera=args.camera, light=args.light,
    )
    val_ds = Batches(val_images, val_targets, np.ones(len(val_images), np.float32),
                     args.batch_size, light=args.light)

    model = models.build(args.arch, **({"weights": args.weights} if args.weights else {}))
    if args.init:
        initialise_from(model, args.init)
    compile_model(model, args, steps_per_epoch=len(train) // args.batch_size)
    check_compiled_forward(model, val_ds[0][0], args.precision)
    model.summary(print_fn=lambda line, **_: print(line), line_length=100)

    best_path, log_path = os.path.join(args.out, "best.keras"), os.path.join(args.out, "log.csv")
    callbacks = [
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
        callbacks.append(TimeBudget(args.minutes * 60, args.lr))
    if args.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=args.patience))
    model.fit(
        train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    print(f"done in {(time.time() - started) / 60:.1f} min; best model: "
          f"{os.path.join(args.out, 'best.keras')}", flush=True)


if __name__ == "__main__":
    main()
