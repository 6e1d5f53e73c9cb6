"""How many grey levels FER-2013's faces hold under each robustness condition,
and how many would count as posterised (preprocess.POSTERISED_GREY_LEVELS).

    python bench/grey_levels.py --data fer2013.csv.gz [--split PrivateTest]

A member marked `reads_posterised: false` abstains on posterised crops only, so
a condition with none posterised is classified exactly as without the mark.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from training import data  # noqa: E402
from training.robustness import CONDITIONS  # noqa: E402
from webapp.vision.preprocess import POSTERISED_GREY_LEVELS, grey_levels  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help=f"FER-2013 CSV; default ${data.DATA_ENV}")
    parser.add_argument("--split", action="append", choices=data.SPLITS)
    args = parser.parse_args()
    splits = data.load_splits(args.data)
    for name in args.split or ("PublicTest", "PrivateTest"):
        faces = splits[name].images
        print(f"{name}, {len(faces)} faces: grey levels per face (min / 1st percentile / "
              f"median), faces posterised (<= {POSTERISED_GREY_LEVELS})")
        for condition, change in CONDITIONS.items():
            levels = grey_levels(change(faces))
            print(f"  {condition:<12} {levels.min():>4} / {np.percentile(levels, 1):>5.0f} / "
                  f"{np.median(levels):>5.0f}   {(levels <= POSTERISED_GREY_LEVELS).sum():>4}")


if __name__ == "__main__":
    main()
