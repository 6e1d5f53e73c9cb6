"""Put exported networks together as one model of several members.

    python -m training.members runs/a/emotion.tflite runs/b/emotion.tflite --out-dir models \
        [--weights 1,1] [--not-posterised 2] [--metrics metrics.json]

Writes <out-dir>/emotion.tflite (the first member), emotion_2.tflite, ... and
emotion.json, whose `members` list says for each member its file, the light
normalisation of its crops, the zooms of its views, its weight and whether it
votes on posterised crops: a face's answer is the weighted mean over every
member (that reads it) of the mean over its views (webapp/vision/classify.py).
Each member's own card (the .json beside its .tflite, from training.export)
says its normalisation and views. The card written has no temperature:
`python -m training.calibrate` fits one after.
"""
import argparse
import json
import os
import shutil

from webapp.vision.preprocess import POSTERISED_GREY_LEVELS

COMBINE = ("each member's probabilities averaged over its views (plain and mirrored at each "
           "zoom, of the crop light-normalised as it says), then the weighted mean over the "
           "members, then p ** (1 / temperature) renormalised (1 when the card has none); a "
           "crop with at most posterised_grey_levels grey levels as cut gets no vote from a "
           "member with reads_posterised false; a live stream classifies one view at a time, "
           "the members (that read the crop) taking turns")


def member_card(path):
    with open(os.path.splitext(path)[0] + ".json") as f:
        return json.load(f)


def assemble(member_paths, out_dir, weights=None, metrics=None, name="emotion",
             not_posterised=()):
    """Copy the members into out_dir and write the card; returns its .tflite path.
    Members whose 1-based numbers are in `not_posterised` do not vote on posterised crops."""
    weights = weights or [1.0] * len(member_paths)
    cards = [member_card(path) for path in member_paths]
    os.makedirs(out_dir, exist_ok=True)
    members = []
    for index, (path, card, weight) in enumerate(zip(member_paths, cards, weights)):
        filename = f"{name}.tflite" if index == 0 else f"{name}_{index + 1}.tflite"
        if os.path.abspath(path) != os.path.abspath(os.path.join(out_dir, filename)):
            shutil.copy(path, os.path.join(out_dir, filename))
        members.append({"file": filename, "architecture": card["architecture"],
                        "parameters": card["parameters"], "weights": card["weights"],
                        "crop_normalisation": card.get("crop_normalisation", "none"),
                        "tta_zooms": card.get("tta_zooms", []), "weight": float(weight),
                        "class_bias": card.get("class_bias", {}),
                        "reads_posterised": index + 1 not in not_posterised})
    first = cards[0]
    card = {key: first[key] for key in ("format", "labels", "input_size", "channels", "color",
                                        "input_scale", "input_offset", "output")}
    card.update(members=members, combine=COMBINE, metrics=metrics or {},
                posterised_grey_levels=POSTERISED_GREY_LEVELS,
                input="face crop resized to input_size, light-normalised as each member says "
                      "(crop_normalisation); value = pixel * input_scale + input_offset")
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    return os.path.join(out_dir, f"{name}.tflite")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("members", nargs="+", help="exported .tflite files, each with its card")
    parser.add_argument("--out-dir", default="models")
    parser.add_argument("--weights", type=lambda text: [float(v) for v in text.split(",")])
    parser.add_argument("--not-posterised", type=lambda text: {int(v) for v in text.split(",")},
                        default=set(), metavar="NUMBERS",
                        help="members (1-based, comma-separated) that do not vote on posterised "
                             "crops (a face nearly in the dark, in few grey levels)")
    parser.add_argument("--metrics", help="metrics JSON from training.evaluate to embed")
    args = parser.parse_args(argv)
    metrics = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
    if args.weights and len(args.weights) != len(args.members):
        parser.error("give one weight per member")
    if not args.not_posterised <= set(range(1, len(args.members) + 1)):
        parser.error("--not-posterised names a member that is not given")
    path = assemble(args.members, args.out_dir, args.weights, metrics,
                    not_posterised=args.not_posterised)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
