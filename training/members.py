"""Put exported networks together as one model of several members.

    python -m training.members runs/a/emotion.tflite runs/b/emotion.tflite --out-dir models \
        [--weights 1,1] [--not-posterised 2] [--not-in-rotation 3] [--metrics metrics.json]
    python -m training.members runs/c/emotion.tflite --base models/emotion.json --out-dir runs/cand

With --base, the members of a model already put together come first, each with its weight,
offsets and posterised vote as its card says; the networks named are added after them.

Writes <out-dir>/emotion.tflite (the first member), emotion_2.tflite, ... and
emotion.json, whose `members` list says for each member its file, the light
normalisation of its crops, the zooms of its views, its weight, whether it
votes on posterised crops and whether it takes turns in a classification of fewer views
than all (a live stream under load): a face's answer is the weighted mean over every
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
           "member with reads_posterised false; a classification that may take fewer views than "
           "all (a live stream, as the server's load allows) takes the next ones in turn, "
           "going round the views of the members (that read the crop) with in_rotation true")


MODEL_KEYS = ("format", "labels", "input_size", "channels", "color", "input_scale",
              "input_offset", "output")


def member_card(path):
    with open(os.path.splitext(path)[0] + ".json") as f:
        return json.load(f)


def base_members(card_path):
    """The members of a model put together before: (network path, its card as a member's
    card, weight, reads_posterised) each, and the model-wide part of the card."""
    with open(card_path) as f:
        card = json.load(f)
    if "members" not in card:
        raise ValueError(f"{card_path} names no members: give a card training.members wrote")
    model = {key: card[key] for key in MODEL_KEYS}
    folder = os.path.dirname(card_path)
    members = [(os.path.join(folder, member["file"]), dict(model, **member),
                member["weight"], member["reads_posterised"]) for member in card["members"]]
    return members, model


def assemble(member_paths, out_dir, weights=None, metrics=None, name="emotion",
             not_posterised=(), base=None, not_in_rotation=()):
    """Copy the members into out_dir and write the card; returns its .tflite path.
    Members whose 1-based numbers are in `not_posterised` do not vote on posterised crops;
    those in `not_in_rotation` answer only classifications that take every view.
    `base` names the card of a model put together before: its members come first, with
    their own weights (unless `weights` gives one for every member) and posterised votes."""
    entries = [(path, member_card(path), 1.0, True) for path in member_paths]
    if base:
        before, model = base_members(base)
        for path, card, _, _ in entries:
            differing = [key for key in MODEL_KEYS if card[key] != model[key]]
            if differing:
                raise ValueError(f"{path} differs from {base} in {', '.join(differing)}")
        entries = before + entries
    weights = weights or [weight for _, _, weight, _ in entries]
    if len(weights) != len(entries):
        raise ValueError(f"give one weight per member ({len(entries)} members, --base's included)")
    numbers = set(range(1, len(entries) + 1))
    if not set(not_posterised) <= numbers:
        raise ValueError("--not-posterised names a member that is not given")
    if not set(not_in_rotation) <= numbers:
        raise ValueError("--not-in-rotation names a member that is not given")
    rotating = [card.get("in_rotation", True) and number not in not_in_rotation
                for number, (_, card, _, _) in enumerate(entries, 1)]
    if not any(rotating):
        raise ValueError("every member is out of the rotation: at least one must take turns")
    os.makedirs(out_dir, exist_ok=True)
    members = []
    for index, ((path, card, _, reads), weight, turns) in enumerate(
            zip(entries, weights, rotating)):
        filename = f"{name}.tflite" if index == 0 else f"{name}_{index + 1}.tflite"
        if os.path.abspath(path) != os.path.abspath(os.path.join(out_dir, filename)):
            shutil.copy(path, os.path.join(out_dir, filename))
        members.append({"file": filename, "architecture": card["architecture"],
                        "parameters": card["parameters"], "weights": card["weights"],
                        "crop_normalisation": card.get("crop_normalisation", "none"),
                        "tta_zooms": card.get("tta_zooms", []), "weight": float(weight),
                        "class_bias": card.get("class_bias", {}),
                        "reads_posterised": reads and index + 1 not in not_posterised,
                        "in_rotation": turns})
    card = {key: entries[0][1][key] for key in MODEL_KEYS}
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
    parser.add_argument("--base", metavar="CARD",
                        help="a model put together before (its .json): its members come first")
    parser.add_argument("--out-dir", default="models")
    parser.add_argument("--weights", type=lambda text: [float(v) for v in text.split(",")])
    parser.add_argument("--not-posterised", type=lambda text: {int(v) for v in text.split(",")},
                        default=set(), metavar="NUMBERS",
                        help="members (1-based, comma-separated) that do not vote on posterised "
                             "crops (a face nearly in the dark, in few grey levels)")
    parser.add_argument("--not-in-rotation", type=lambda text: {int(v) for v in text.split(",")},
                        default=set(), metavar="NUMBERS",
                        help="members (1-based, comma-separated) that take no turn when a "
                             "classification takes fewer views than all (a live stream "
                             "under load): a dearer network answers every-view "
                             "classifications only")
    parser.add_argument("--metrics", help="metrics JSON from training.evaluate to embed")
    args = parser.parse_args(argv)
    metrics = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
    try:
        path = assemble(args.members, args.out_dir, args.weights, metrics,
                        not_posterised=args.not_posterised, base=args.base,
                        not_in_rotation=args.not_in_rotation)
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
