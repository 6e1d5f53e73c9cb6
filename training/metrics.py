"""Classification figures from labels and predicted probabilities (numpy only)."""
import numpy as np

from webapp.vision.preprocess import EMOTIONS


def confusion_matrix(true_labels, predicted_labels, num_classes=len(EMOTIONS)):
    """counts[i, j] = how many of true class i were predicted as j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(true_labels), np.asarray(predicted_labels)), 1)
    return counts


def per_class(confusion):
    """Precision, recall and F1 per class (0 where undefined)."""
    true_positives = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives),
                          where=predicted > 0)
    recall = np.divide(true_positives, actual, out=np.zeros_like(true_positives),
                       where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positives),
                   where=denominator > 0)
    return precision, recall, f1


def expected_calibration_error(probabilities, true_labels, bins=15):
    """ECE: |accuracy - confidence| per confidence bin, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(true_labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which_bin = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which_bin == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def majority_accuracy(probabilities, votes):
    """Accuracy against the majority of each face's votes (FER+)."""
    return float((np.asarray(probabilities).argmax(1) == np.asarray(votes).argmax(1)).mean())


def summarize(probabilities, true_labels, labels=EMOTIONS):
    """All the figures `training.evaluate` reports, as a JSON-ready dict."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    true_labels = np.asarray(true_labels)
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(true_labels, predicted, len(labels))
    precision, recall, f1 = per_class(confusion)
    return {
        "samples": int(len(true_labels)),
        "accuracy": float((predicted == true_labels).mean()),
        "macro_f1": float(f1.mean()),
        "ece": expected_calibration_error(probabilities, true_labels),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(confusion[i].sum()),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion.tolist(),
    }
