"""Emotion CNN architectures, all taking a normalized 48x48x1 face.

- `mini_xception`: the compact real-time model of Arriaga et al. (2017).
- `vgg`: a stronger VGG-style network (conv-BN-ReLU blocks, global pooling).
- `vgg_slim`: the same network at half the width, a quarter of the work a view.
- `vgg_late`: the same work a view as `vgg`, moved from 48x48 to the 12x12 and 6x6 stages.
- `vgg_spatial`: `vgg` whose head reads the last 3x3 map cell by cell (where the mouth and
  the eyes are) rather than its average; `training/unpool.py` starts it from a trained `vgg`.
- `vgg_half`, `vgg_quarter`: `vgg` with each 3x3 convolution after the first factored into a
  3x1 and a 1x3 one through fewer channels, for half or a quarter of the work a view;
  `training/factor.py` starts them from a trained `vgg`.
- `mobilenet_v2`: keras.applications' MobileNetV2, trained from scratch here
  (no weights can be downloaded); a local weights file can be given.
"""
import keras
from keras import layers

from webapp.vision.preprocess import CHANNELS, EMOTIONS, INPUT_SIZE

INPUT_SHAPE = (*INPUT_SIZE, CHANNELS)


def _conv_bn_relu(x, filters, kernel_size=3, l2=1e-4):
    x = layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        use_bias=False,
        kernel_regularizer=keras.regularizers.l2(l2),
    )(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _classifier_head(x, num_classes, dropout):
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(num_classes, activation="softmax", name="emotion", dtype="float32")(x)


def mini_xception(num_classes=len(EMOTIONS)):
    """Arriaga et al.'s mini-Xception: ~60k parameters."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = _conv_bn_relu(inputs, 8)
    x = _conv_bn_relu(x, 8)
    for filters in (16, 32, 64, 128):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization()(residual)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.add([x, residual])
    x = layers.Conv2D(num_classes, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Activation("softmax", name="emotion", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="mini_xception")


def _factored_conv_bn_relu(x, filters, rank, l2=1e-4):
    """A 3x3 convolution as a 3x1 one into `rank` channels, then a 1x3 one
    (Jaderberg et al., 2014): 3 * rank * (inputs + filters) multiply-adds a pixel,
    not 9 * inputs * filters."""
    x = layers.Conv2D(rank, (3, 1), padding="same", use_bias=False,
                      kernel_regularizer=keras.regularizers.l2(l2))(x)
    return _conv_bn_relu(x, filters, kernel_size=(1, 3), l2=l2)


def vgg(num_classes=len(EMOTIONS), widths=(32, 64, 128, 256), depths=(2, 2, 2, 2), name="vgg",
        work=1.0, spatial=False):
    """VGG-style: stages of 3x3 conv-BN-ReLU, max-pooled, then global pooling
    (or, `spatial`, the last map flattened). With `work` other than 1, each convolution
    after the first is factored, with the rank that leaves it that share of its
    multiply-adds."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = inputs
    for stage, (filters, depth) in enumerate(zip(widths, depths)):
        for _ in range(depth):
            inputs_width = x.shape[-1]
            if work != 1.0 and inputs_width > 1:
                x = _factored_conv_bn_relu(x, filters, factored_rank(inputs_width, filters, work))
            else:
                x = _conv_bn_relu(x, filters)
        x = layers.MaxPooling2D(2)(x)
        x = layers.SpatialDropout2D(0.05 * (stage + 1))(x)
    x = layers.Flatten()(x) if spatial else layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def factored_rank(inputs, filters, work):
    """The rank of a factored 3x3 convolution that costs `work` of the full one."""
    return max(1, round(work * 3 * inputs * filters / (inputs + filters)))


def vgg_half(num_classes=len(EMOTIONS)):
    """`vgg` factored to half the work a view: 59M multiply-adds, not 117.5M."""
    return vgg(num_classes, name="vgg_half", work=0.5)


def vgg_quarter(num_classes=len(EMOTIONS)):
    """`vgg` factored to a quarter of the work a view: 30M multiply-adds."""
    return vgg(num_classes, name="vgg_quarter", work=0.25)


def vgg_slim(num_classes=len(EMOTIONS)):
    """`vgg` with half the filters in every stage: 29.6M multiply-adds a view, not 117.5M."""
    return vgg(num_classes, widths=(16, 32, 64, 128), name="vgg_slim")


def vgg_late(num_classes=len(EMOTIONS)):
    """`vgg` with one thin convolution at full resolution and wider late stages:
    123M multiply-adds a view (vgg: 117.5M) and 1.8M parameters (vgg: 1.2M)."""
    return vgg(num_classes, widths=(16, 64, 160, 320), depths=(1, 2, 2, 2), name="vgg_late")


def vgg_spatial(num_classes=len(EMOTIONS)):
    """`vgg` with a head that sees each cell of the last 3x3 map: 1.8M parameters
    (vgg: 1.2M), the same work a view to within half a percent."""
    return vgg(num_classes, name="vgg_spatial", spatial=True)


def vgg_wide(num_classes=len(EMOTIONS)):
    """`vgg` with twice the filters in every stage, a teacher: 4.8M parameters and
    about four times the work a view."""
    return vgg(num_classes, widths=(64, 128, 256, 512), name="vgg_wide")


def mobilenet_v2(num_classes=len(EMOTIONS), weights=None, alpha=1.0):
    """MobileNetV2 on the 48x48 grayscale face, upsampled to 96x96 RGB.

    `weights` is a local file of ImageNet (or other) weights for the
    no-top 96x96 backbone; None trains from scratch.
    """
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = layers.Resizing(96, 96)(inputs)
    x = layers.Concatenate()([x, x, x])
    backbone = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), include_top=False, weights=None, alpha=alpha
    )
    if weights:
        backbone.load_weights(weights)
    x = backbone(x)
    outputs = _classifier_head(x, num_classes, dropout=0.3)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


ARCHITECTURES = {"mini_xception": mini_xception, "vgg": vgg, "vgg_slim": vgg_slim,
                 "vgg_late": vgg_late, "vgg_spatial": vgg_spatial, "vgg_wide": vgg_wide,
                 "vgg_half": vgg_half, "vgg_quarter": vgg_quarter, "mobilenet_v2": mobilenet_v2}


def build(name, **kwargs):
    """The named architecture, freshly initialised."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name](**kwargs)
