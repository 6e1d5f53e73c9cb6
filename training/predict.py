"""Probabilities from a trained model, .keras or .tflite, for evaluation,
class offsets and export checks. Keras (on its configured backend) is imported
only for .keras files, the TFLite runtime only for .tflite files."""
import json
import os

import numpy as np

from training import models


def model_light(model_path):
    """The crop light normalisation a model expects: its card's
    `crop_normalisation` (the .json beside it), else the `light` of the training
    run it comes from (config.json beside it), else "none"."""
    base = os.path.splitext(model_path)[0]
    for path, key in ((base + ".json", "crop_normalisation"),
                      (os.path.join(os.path.dirname(model_path), "config.json"), "light")):
        if os.path.isfile(path):
            with open(path) as f:
                value = json.load(f).get(key)
            if value:
                return value
    return "none"


def load_model(path):
    """A saved Keras model, rebuilt in float32 (mixed-precision casts do not
    belong in a TFLite file) when it was trained in mixed precision."""
    import keras

    trained = keras.models.load_model(path, compile=False)
    if trained.name not in models.ARCHITECTURES:
        return trained
    keras.mixed_precision.set_global_policy("float32")
    model = models.build(trained.name)
    model.set_weights(trained.get_weights())
    return model


def predict_keras(model, x, batch_size=256):
    """model(x) in full-sized batches (the last one padded), as float64."""
    padded = -len(x) % batch_size
    x_full = np.concatenate([x, np.repeat(x[:1], padded, axis=0)]) if padded else x
    from keras import ops

    outputs = [ops.convert_to_numpy(model(x_full[i:i + batch_size], training=False))
               for i in range(0, len(x_full), batch_size)]
    return np.concatenate(outputs)[: len(x)].astype(np.float64)


def predict_tflite(tflite_path, x, threads=1):
    """A TFLite model over x (N, h, w, c), as float64."""
    from webapp.vision.tflite import TFLiteModel

    return TFLiteModel(tflite_path, threads).predict_many(x).astype(np.float64)


def predict(model_path, x):
    """Probabilities (N, classes) from a .keras or .tflite model."""
    if model_path.endswith(".tflite"):
        return predict_tflite(model_path, x)
    return predict_keras(load_model(model_path), x)
