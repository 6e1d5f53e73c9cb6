"""Start a factored network from a trained one's weights.

Each 3x3 convolution W[y, x, c, n] of the full network becomes a 3x1 convolution
V into r channels and a 1x3 one H out of them, with W[y, x, c, n] ~ sum_k
V[y, c, k] H[x, k, n]: the rank-r singular value decomposition of W arranged as a
(3 inputs) x (3 filters) matrix, the closest such pair in the least-squares sense
(Jaderberg et al., 2014). Every other layer is copied as it is.
"""
import numpy as np
from keras import layers

from training.narrow import weighted_layers


def _as_matrix(kernel):
    """A (3, 3, C, N) kernel as the (3 C) x (3 N) matrix whose rank its split takes."""
    height, width, inputs, filters = kernel.shape
    return kernel.transpose(0, 2, 1, 3).reshape(height * inputs, width * filters)


def split_kernel(kernel, rank):
    """The (3, 1, C, rank) and (1, 3, rank, N) kernels closest to a (3, 3, C, N) one."""
    height, width, inputs, filters = kernel.shape
    u, s, vt = np.linalg.svd(_as_matrix(kernel), full_matrices=False)
    root = np.sqrt(s[:rank])
    vertical = (u[:, :rank] * root).reshape(height, 1, inputs, rank)
    horizontal = (root[:, None] * vt[:rank]).reshape(rank, width, filters).transpose(1, 0, 2)
    return vertical, horizontal[None]


def joined_kernel(vertical, horizontal):
    """The 3x3 kernel that a 3x1 convolution followed by a 1x3 one amounts to."""
    return np.einsum("yck,xkn->yxcn", vertical[:, 0], horizontal[0])


def is_factored(model):
    """Whether `model` has factored convolutions (a 3x1 kernel)."""
    return any(isinstance(layer, layers.Conv2D) and tuple(layer.kernel.shape[:2]) == (3, 1)
               for layer in model.layers)


def factor_into(full, factored):
    """Copy `full`'s weights into `factored`, splitting the convolutions that it splits."""
    sources, targets = weighted_layers(full), iter(weighted_layers(factored))
    for source in sources:
        target = next(targets, None)
        if target is None or type(source) is not type(target):
            raise ValueError(f"{factored.name} does not follow {full.name}'s layers")
        weights = source.get_weights()
        if isinstance(source, layers.Conv2D) and target.kernel.shape != weights[0].shape:
            following = next(targets, None)
            if target.kernel.shape[:2] != (3, 1) or not isinstance(following, layers.Conv2D):
                raise ValueError(f"{target.name}: not a factored 3x3 convolution")
            vertical, horizontal = split_kernel(weights[0], target.kernel.shape[-1])
            target.set_weights([vertical])
            following.set_weights([horizontal])
            continue
        target.set_weights(weights)
    if next(targets, None) is not None:
        raise ValueError(f"{factored.name} has layers that {full.name} does not")
    return factored


def kept_energy(kernel, rank):
    """The share of the kernel's squared norm that its rank-`rank` split keeps."""
    s = np.linalg.svd(_as_matrix(kernel), compute_uv=False)
    return float((s[:rank] ** 2).sum() / (s ** 2).sum())
