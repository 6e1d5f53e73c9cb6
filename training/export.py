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

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from training import data  # noqa: E402
from training.class_bias import fold_into_model  # noqa: E402
from training.predict import load_model, model_light  # noqa: E402
from webapp.vision.preprocess import (  # noqa: E402
    CHANNELS, CROP_NORMALISATIONS, EMOTIONS, INPUT_OFFSET, INPUT_SCALE, INPUT_SIZE, TTA_ZOOMS,
    normalize_light,
)

LIGHT_NOTES = {
    "none": "none: the crop as cut",
    "equalize": "equalize: the crop's histogram equalised (OpenCV equalizeHist on the "
                "uint8 crop) before its views",
    "clahe": "clahe: OpenCV CLAHE (clip 2.0, 4x4 tiles) on the uint8 crop before its views",
}


QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
WEIGHTS = {"none": "float32", "float16": "float16", "dynamic": "int8 (dynamic range)",
           "int8": "int8 weights and activations (float32 input and output)"}


def to_tflite(model, quantize="none", calibration_faces=None):
    """The model as TFLite flatbuffer bytes: float32 weights, float16 weights
    (half the size, same arithmetic), dynamic-range int8 weights, or int8
    weights and activations (integer kernels: faster on CPUs with VNNI),
    calibrated on `calibration_faces` (model inputs, N x h x w x c)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if calibration_faces is None:
            raise ValueError("int8 quantization needs calibration faces (--data)")
        faces = np.asarray(calibration_faces, np.float32)
        converter.representative_dataset = lambda: ([face[None]] for face in faces)
    return converter.convert()


def calibration_faces(data_path, count=500, seed=0, light="none"):
    """Model inputs of `count` training faces, for int8 calibration."""
    from webapp.vision.preprocess import normalize

    images = data.load_splits(data_path, limit=None)["Training"].images
    chosen = np.random.default_rng(seed).choice(len(images), count, replace=False)
    return normalize(normalize_light(images[chosen], light)[..., None])


def model_card(model, metrics=None, quantize="none", class_bias=None, tta_zooms=TTA_ZOOMS,
               light="none"):
    """The JSON sidecar that tells a user how to feed the model."""
    card = {
        "format": "tflite",
        "weights": WEIGHTS[quantize],
        "architecture": model.name,
        "parameters": int(model.count_params()),
        "labels": list(EMOTIONS),
        "input_size": list(INPUT_SIZE),
        "channels": CHANNELS,
        "color": "grayscale",
        "input_scale": INPUT_SCALE,
        "input_offset": INPUT_OFFSET,
        "crop_normalisation": light,
        "crop_normalisation_note": LIGHT_NOTES[light],
        "input": ("face crop resized to input_size, light-normalised (crop_normalisation); "
                  "value = pixel * input_scale + input_offset"),
        "output": "softmax probabilities in the order of labels",
        "tta_zooms": list(tta_zooms),
        "tta": ("the server averages each face's views: plain and mirrored at each zoom"
                if tta_zooms else "one view per face: the crop as it is"),
        "metrics": metrics or {},
    }
    if class_bias:
        card["class_bias"] = class_bias
        card["class_bias_note"] = ("logit offsets chosen on PublicTest, already folded into the "
                                   "model's last layer (training.class_bias)")
    return card


def export(model_path, out_dir="models", name="emotion", metrics=None, quantize="none",
           class_bias=None, tta_zooms=TTA_ZOOMS, calibration=None, light=None):
    """Write <name>.tflite, <name>.keras and <name>.json into out_dir;
    `class_bias` ({label: logit offset}) is folded into the model first;
    `tta_zooms` are the views the server averages (empty: one view); `light`
    the crop normalisation it was trained with (default: its run's)."""
    light = model_light(model_path) if light is None else light
    model = load_model(model_path)
    if class_bias:
        fold_into_model(model, [class_bias.get(label, 0.0) for label in EMOTIONS])
    os.makedirs(out_dir, exist_ok=True)
    tflite_path = os.path.join(out_dir, f"{name}.tflite")
    with open(tflite_path, "wb") as f:
        f.write(to_tflite(model, quantize, calibration))
    keras_path = os.path.join(out_dir, f"{name}.keras")
    if os.path.abspath(model_path) != os.path.abspath(keras_path):
        model.save(keras_path)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(model_card(model, metrics, quantize, class_bias, tta_zooms, light), f, indent=2)
        f.write("\n")
    return tflite_path


def _zooms(text):
    return () if text == "none" else tuple(map(float, text.split(",")))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export a Keras emotion model to TFLite.")
    parser.add_argument("model", help="trained .keras file")
    parser.add_argument("--out-dir", default="models")
    parser.add_argument("--name", default="emotion")
    parser.add_argument("--metrics", help="metrics JSON from training.evaluate to embed")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help="weight storage of the TFLite file")
    parser.add_argument("--class-bias", help="offsets JSON from training.class_bias to fold in")
    parser.add_argument("--tta-zooms", type=_zooms, default=TTA_ZOOMS,
                        help="views the server averages, e.g. 1.0,1.05; 'none' for one view")
    parser.add_argument("--light", choices=CROP_NORMALISATIONS,
                        help="crop normalisation the model was trained with (default: the "
                             "`light` of its training run's config.json, else none)")
    parser.add_argument("--data", help=f"FER-2013 CSV for int8 calibration; default "
                                       f"${data.DATA_ENV}")
    args = parser.parse_args(argv)
    metrics = class_bias = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
    if args.class_bias:
        with open(args.class_bias) as f:
            class_bias = json.load(f)["class_bias"]
    light = model_light(args.model) if args.light is None else args.light
    calibration = (calibration_faces(args.data, light=light) if args.quantize == "int8"
                   else None)
    path = export(args.model, args.out_dir, args.name, metrics, args.quantize, class_bias,
                  args.tta_zooms, calibration, light)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
