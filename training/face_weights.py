"""Per-face training weights from a model's mistakes, to train a member that
disagrees with it:

    python -m training.face_weights models/emotion.tflite --data fer2013.csv.gz \
        --ferplus ferplus.csv --wrong 3 --out runs/face_weights.npy
    python -m training.train ... --face-weights runs/face_weights.npy

A Training face the model gets wrong (as served for a photo) weighs `--wrong`,
every other face 1. With FER+ votes, a mistake is up-weighted only where FER+'s
most-voted emotion is FER-2013's label: where the annotators doubt the label,
the model may be right. The file holds one weight per row of the FER-2013 file
(rows of the test splits weigh 1; rows past its end do too); training scales
the weights it uses to a mean of 1.
"""
import argparse
import os

import numpy as np

from training import data
from training.evaluate import predict_split
from webapp.vision.preprocess import EMOTIONS


def mistakes(predicted, split):
    """A mask of the faces whose predicted emotion is not their label and,
    with FER+ votes, whose label FER+'s annotators voted for most."""
    wrong = predicted != split.labels
    if split.votes is not None:
        wrong &= split.votes.argmax(axis=1) == split.labels
    return wrong


def face_weights(rows, wrong, weight, total_rows):
    """One weight per file row: `weight` at the rows of `wrong` faces, else 1."""
    weights = np.ones(total_rows, np.float32)
    weights[rows[wrong]] = weight
    return weights


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the model whose mistakes weigh more (.tflite or .keras)")
    parser.add_argument("--data", help=f"FER-2013 CSV; default ${data.DATA_ENV}")
    parser.add_argument("--ferplus", help="FER+ votes CSV: up-weight only mistakes FER+ agrees are")
    parser.add_argument("--wrong", type=float, default=3.0, help="weight of a face it gets wrong")
    parser.add_argument("--limit", type=int, help="only the first N rows of each split")
    parser.add_argument("--out", required=True, help="the weights file to write (.npy)")
    args = parser.parse_args(argv)

    splits = data.load_splits(args.data, args.ferplus, limit=args.limit)
    training = splits["Training"]
    predicted = predict_split(args.model, training.images).argmax(axis=1)
    wrong = mistakes(predicted, training)
    total_rows = 1 + max(split.rows.max() for split in splits.values())
    weights = face_weights(training.rows, wrong, args.wrong, total_rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.save(args.out, weights)
    right = (predicted == training.labels).mean()
    print(f"{args.model} on {len(training)} Training faces: {right:.2%} right; "
          f"{wrong.sum()} up-weighted to {args.wrong:g}")
    for index, name in enumerate(EMOTIONS):
        print(f"  {name:9s} {np.sum(wrong & (training.labels == index)):5d} "
              f"of {np.sum(training.labels == index)}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
