"""Export a trained Keras model for serving: TFLite file plus a JSON sidecar.

    python -m training.export runs/vgg/best.keras --metrics runs/vgg/metrics_privatetest.json

writes `models/emotion.tflite`, `models/emotion.keras` and `models/emotion.json`
(labels in output order, input size, channels, input_scale/input_offset and
the measured metrics), so the file can be used without reading this code.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from training import models  # noqa: E402
from training.class_bias import fold_into_model  # noqa: E402
from webapp.vision.preprocess import (  # noqa: E402
    CHANNELS, EMOTIONS, INPUT_OFFSET, INPUT_SCALE, INPUT_SIZE, TTA_ZOOMS,
)


def load_model(path):
    """A saved Keras model, rebuilt in float32 (mixed-precision casts do not
    belong in a TFLite file) when it was trained in mixed precision."""
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
    outputs = [model(x_full[i:i + batch_size], training=False).numpy()
               for i in range(0, len(x_full), batch_size)]
    return np.concatenate(outputs)[: len(x)].astype(np.float64)


QUANTIZATIONS = ("none", "float16", "dynamic")


def to_tflite(model, quantize="none"):
    """The model as TFLite flatbuffer bytes: float32 weights, float16 weights
    (half the size, same arithmetic), or dynamic-range int8 weights."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def predict_tflite(tflite_path, x, threads=1):
    """Run a TFLite model over x (N, h, w, c) one sample at a time."""
    interpreter = Interpreter(model_path=tflite_path, num_threads=threads)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs = []
    for sample in x:
        interpreter.set_tensor(input_index, sample[None].astype(np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index)[0].copy())
    return np.array(outputs, dtype=np.float64)


def model_card(model, metrics=None, quantize="none", class_bias=None):
    """The JSON sidecar that tells a user how to feed the model."""
    card = {
        "format": "tflite",
        "weights": {"none": "float32", "float16": "float16", "dynamic": "int8 (dynamic range)"}[
            quantize],
        "architecture": model.name,
        "parameters": int(model.count_params()),
        "labels": list(EMOTIONS),
        "input_size": list(INPUT_SIZE),
        "channels": CHANNELS,
        "color": "grayscale",
        "input_scale": INPUT_SCALE,
        "input_offset": INPUT_OFFSET,
        "input": "face crop resized to input_size; value = pixel * input_scale + input_offset",
        "output": "softmax probabilities in the order of labels",
        "tta_zooms": list(TTA_ZOOMS),
        "tta": "the server averages each face's views: plain and mirrored at each zoom",
        "metrics": metrics or {},
    }
    if class_bias:
        card["class_bias"] = class_bias
        card["class_bias_note"] = ("logit offsets chosen on PublicTest, already folded into the "
                                   "model's last layer (training.class_bias)")
    return card


def export(model_path, out_dir="models", name="emotion", metrics=None, quantize="none",
           class_bias=None):
    """Write <name>.tflite, <name>.keras and <name>.json into out_dir;
    `class_bias` ({label: logit offset}) is folded into the model first."""
    model = load_model(model_path)
    if class_bias:
        fold_into_model(model, [class_bias.get(label, 0.0) for label in EMOTIONS])
    os.makedirs(out_dir, exist_ok=True)
    tflite_path = os.path.join(out_dir, f"{name}.tflite")
    with open(tflite_path, "wb") as f:
        f.write(to_tflite(model, quantize))
    keras_path = os.path.join(out_dir, f"{name}.keras")
    if os.path.abspath(model_path) != os.path.abspath(keras_path):
        model.save(keras_path)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(model_card(model, metrics, quantize, class_bias), f, indent=2)
        f.write("\n")
    return tflite_path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export a Keras emotion model to TFLite.")
    parser.add_argument("model", help="trained .keras file")
    parser.add_argument("--out-dir", default="models")
    parser.add_argument("--name", default="emotion")
    parser.add_argument("--metrics", help="metrics JSON from training.evaluate to embed")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help="weight storage of the TFLite file")
    parser.add_argument("--class-bias", help="offsets JSON from training.class_bias to fold in")
    args = parser.parse_args(argv)
    metrics = class_bias = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
    if args.class_bias:
        with open(args.class_bias) as f:
            class_bias = json.load(f)["class_bias"]
    path = export(args.model, args.out_dir, args.name, metrics, args.quantize, class_bias)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
