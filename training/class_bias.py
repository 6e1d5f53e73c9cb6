"""Per-class logit offsets that lift the recall of rare, hard classes (fear).

    python -m training.class_bias runs/vgg/best.keras --data fer2013.csv.gz \
        --min-recall fear=0.47 --tta --out runs/vgg/class_bias.json

Adding an offset to one class's logit moves the decision boundary towards
it (a prior correction): its recall rises, others' fall a little. The
offsets are chosen on PublicTest (the smallest that reach each target
recall, with the server's test-time views) and `training.export
--class-bias` folds them into the bias of the model's last layer, so the
exported model outputs the corrected probabilities and nothing else changes.
"""
import argparse
import json

import numpy as np

from training import data, metrics
from training.evaluate import predict_views
from webapp.vision.preprocess import EMOTIONS, TTA_ZOOMS


def apply_bias(view_probabilities, bias):
    """softmax(log p + bias) for each view of (V, N, C) probabilities, averaged -> (N, C)."""
    logits = np.log(np.maximum(view_probabilities, 1e-12)) + bias
    logits -= logits.max(axis=-1, keepdims=True)
    corrected = np.exp(logits)
    return (corrected / corrected.sum(axis=-1, keepdims=True)).mean(axis=0)


def recalls(probabilities, labels):
    """Recall per class of the most probable labels (0 for a class with no samples)."""
    confusion = metrics.confusion_matrix(labels, probabilities.argmax(axis=1))
    return metrics.per_class(confusion)[1]


def choose_bias(view_probabilities, labels, min_recall, step=0.05, limit=3.0):
    """The smallest offsets (in `step`s) giving each class of `min_recall`
    ({class index: recall}) at least that recall; raises if one needs > limit."""
    bias = np.zeros(view_probabilities.shape[-1])
    while True:
        achieved = recalls(apply_bias(view_probabilities, bias), labels)
        shortfall = {c: target - achieved[c] for c, target in min_recall.items()
                     if achieved[c] < target}
        if not shortfall:
            return bias
        c = max(shortfall, key=shortfall.get)  # one class a step, so they do not leapfrog
        bias[c] += step
        if bias[c] > limit:
            raise ValueError(f"{EMOTIONS[c]} recall {achieved[c]:.3f} is still below "
                             f"{min_recall[c]} with an offset of {limit}")


def fold_into_model(model, bias):
    """Add `bias` to the logits of a model ending in a softmax: into the bias
    of its last Dense or convolution layer, through any global pooling,
    dropout or activation after it (which keep a per-class offset as it is)."""
    import keras

    keep_offsets = (keras.layers.GlobalAveragePooling2D, keras.layers.Dropout,
                    keras.layers.Activation)
    for layer in reversed(model.layers):
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(layer.bias.numpy() + np.asarray(bias, dtype=np.float32))
            return model
        if not isinstance(layer, keep_offsets):
            break
    raise ValueError(f"cannot fold class offsets into {model.name}: no bias before {layer.name}")


def parse_targets(pairs):
    targets = {}
    for pair in pairs:
        label, _, recall = pair.partition("=")
        if label not in EMOTIONS or not recall:
            raise argparse.ArgumentTypeError(f"expected label=recall with a label of {EMOTIONS}")
        targets[EMOTIONS.index(label)] = float(recall)
    return targets


def main(argv=None):
    parser = argparse.ArgumentParser(description="Choose per-class logit offsets on PublicTest.")
    parser.add_argument("model", help=".keras or .tflite file (without offsets)")
    parser.add_argument("--data", help=f"FER-2013 CSV; default ${data.DATA_ENV}")
    parser.add_argument("--split", choices=data.CHOOSABLE, default="PublicTest")
    parser.add_argument("--min-recall", nargs="+", required=True, metavar="LABEL=RECALL")
    parser.add_argument("--tta", action="store_true", help="with the server's test-time views")
    parser.add_argument("--max-offset", type=float, default=3.0,
                        help="give up past this offset (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="first N rows of each split only")
    parser.add_argument("--out", help="JSON file for the offsets")
    args = parser.parse_args(argv)
    targets = parse_targets(args.min_recall)

    split = data.load_split(args.split, args.data, limit=args.limit)
    zooms = TTA_ZOOMS if args.tta else ()
    if zooms:
        view_probabilities = predict_views(args.model, split.images, zooms)
    else:
        view_probabilities = predict_views(args.model, split.images, (1.0,))[:1]
    bias = choose_bias(view_probabilities, split.labels, targets, limit=args.max_offset)
    for name, offsets in (("before", np.zeros(len(EMOTIONS))), ("after", bias)):
        probabilities = apply_bias(view_probabilities, offsets)
        accuracy = (probabilities.argmax(axis=1) == split.labels).mean()
        recall = recalls(probabilities, split.labels)
        print(f"{args.split} {name}: accuracy {accuracy:.4f}  recall " + "  ".join(
            f"{EMOTIONS[c]} {recall[c]:.3f}" for c in range(len(EMOTIONS))))
    chosen = {label: round(float(value), 4) for label, value in zip(EMOTIONS, bias)}
    print("offsets:", chosen)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"split": args.split, "tta_zooms": list(zooms),
                       "min_recall": {EMOTIONS[c]: r for c, r in targets.items()},
                       "class_bias": chosen}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
