"""Training batches: faces shuffled, degraded as cameras do, light-normalised,
augmented, mixed and (with a teacher) given the teacher's answers, made with the
Keras backend's own ops (TensorFlow on a CPU, JAX on a GPU, where a batch's work
runs as one compiled program).

    batches = Batches(images, targets, weights, 128, augment=augmenter(seed), ...)
"""
import keras
import numpy as np
from keras import ops

from training import camera
from webapp.vision.preprocess import INPUT_OFFSET, INPUT_SCALE, normalize_light


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

def views(x, zooms):
    """`preprocess.tta_views` of a batch: view-major, each zoom plain and mirrored."""
    stacked = []
    for zoom in zooms:
        view = x if zoom == 1.0 else zoomed(x, zoom)
        stacked += [view, ops.flip(view, axis=2)]
    return ops.concatenate(stacked, axis=0)

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

class Batches(keras.utils.PyDataset):
    """Full-sized batches (x, y, sample_weight) of normalised faces, made with
    the backend's own ops (TensorFlow on a CPU, JAX on a GPU). With `augment`,
    shuffled each epoch, augmented and mixed; with `teacher` (a function of the
    model's input), its answer for the batch as given to the model makes up
    `teacher_weight` of the targets; with `alternates` (another version of each
    image), each face of a batch is one or the other, at random; with `camera`,
    faces degraded as cameras do (training.camera, dim light keeping at least
    `darkest` of it, `dark_video_share` of them filmed nearly dark); then each
    crop's `light` normalised (preprocess.normalize_light)."""

    def __init__(self, images, targets, weights, batch_size, augment=None, seed=0,
                 mixup_alpha=0.0, teacher=None, teacher_weight=0.0, alternates=None,
                 camera=False, darkest=camera.DARKEST, dark_video_share=0.0, light="none"):
        super().__init__()
        self.images, self.targets, self.weights = images, targets, weights
        self.alternates = alternates
        self.camera, self.darkest, self.light = camera, darkest, light
        self.dark_video_share = dark_video_share
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
            images = camera.degrade(images, self.shuffler, self.darkest, self.dark_video_share)
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
