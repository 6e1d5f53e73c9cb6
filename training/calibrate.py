"""The temperature that makes a model's confidence match its accuracy.

    python -m training.calibrate models/emotion.tflite --data fer2013.csv.gz

A model averaged over views and members is under-confident: its top
probability says less than how often it is right. One temperature T turns
each answer p into p ** (1 / T), renormalised (webapp/vision/classify.py),
which changes no label, only how sure each one says it is. T is the one that
minimises the negative log-likelihood of the true labels on PublicTest, as is
and in dim light (training.camera.dim_protocol), with the answers exactly as
the server gives them for a photo; it is written into the model's card as
`temperature`, and the calibration error is reported before and after.
"""
import argparse
import os

import numpy as np

from training import camera, data
from training.evaluate import served_probabilities, update_card
from training.metrics import expected_calibration_error
from webapp.vision.preprocess import with_temperature

TEMPERATURES = np.round(np.arange(0.30, 2.001, 0.01), 2)


def negative_log_likelihood(probabilities, labels):
    return float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(labels)), labels],
                                            1e-12))))


def fit_temperature(probabilities, labels, temperatures=TEMPERATURES):
    """The temperature (from `temperatures`) with the lowest NLL of `labels`."""
    losses = [negative_log_likelihood(with_temperature(probabilities, t), labels)
              for t in temperatures]
    return float(temperatures[int(np.argmin(losses))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="exported .tflite with its card (one network or members)")
    parser.add_argument("--data", default=os.environ.get("FER2013_CSV"),
                        help="FER-2013 CSV; default $FER2013_CSV")
    parser.add_argument("--split", choices=data.CHOOSABLE, default="PublicTest")
    parser.add_argument("--limit", type=int, help="only the first N faces (for tests)")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data or set FER2013_CSV")
    split = data.load_split(args.split, args.data, limit=args.limit)
    images = np.concatenate([split.images, camera.dim_protocol(split.images)])
    labels = np.concatenate([split.labels, split.labels])
    from webapp.vision.classify import EmotionClassifier

    raw = served_probabilities(args.model, images,
                               classifier=EmotionClassifier(args.model, temperature=1.0))
    temperature = fit_temperature(raw, labels)
    calibrated = with_temperature(raw, temperature)
    before, after = (expected_calibration_error(p, labels) for p in (raw, calibrated))
    print(f"{args.split}, as is and dimmed ({len(labels)} faces): temperature {temperature:.2f}; "
          f"calibration error {before:.4f} -> {after:.4f}; mean confidence "
          f"{raw.max(1).mean():.3f} -> {calibrated.max(1).mean():.3f}, accuracy "
          f"{(raw.argmax(1) == labels).mean():.3f}")
    update_card(args.model, temperature=temperature,
                temperature_note=f"fitted by training.calibrate on {args.split}, as is and "
                                 f"dimmed: NLL-optimal; calibration error there {before:.3f} "
                                 f"-> {after:.3f}")


if __name__ == "__main__":
    main()
