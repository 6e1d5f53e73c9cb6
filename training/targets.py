"""What the network learns to answer: FER-2013 labels, FER+ vote
distributions or their blend, optionally mixed with teachers' answers
(distillation). Every target row is a distribution that sums to one."""
import json
import os

import numpy as np


def training_targets(split, source):
    if source == "blend":
        return 0.5 * split.targets("fer2013") + 0.5 * split.targets("ferplus")
    return split.targets(source)

def teacher_targets(teacher_paths, images, views, cache_path):
    """The teachers' probabilities for `images`, each averaged over its views, then
    over the teachers; kept in `cache_path` (with a note of what made them) so that
    a resumed run does not compute them again."""
    made_by = {"teachers": [os.path.abspath(path) for path in teacher_paths],
               "views": list(views), "images": len(images)}
    note_path = os.path.splitext(cache_path)[0] + ".json"
    if os.path.isfile(cache_path) and os.path.isfile(note_path):
        with open(note_path) as f:
            if json.load(f) == made_by:
                return np.load(cache_path)
    from training.evaluate import predict_split

    probabilities = np.mean([predict_split(path, images, views) for path in teacher_paths],
                            axis=0).astype(np.float32)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.save(cache_path, probabilities)
    with open(note_path, "w") as f:
        json.dump(made_by, f, indent=2)
    return probabilities

def distillation_targets(base_targets, teacher_probabilities, teacher_weight):
    """Mix of the data's targets and the teacher's: each row still sums to one."""
    return ((1.0 - teacher_weight) * base_targets
            + teacher_weight * teacher_probabilities).astype(np.float32)
