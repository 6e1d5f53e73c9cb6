"""Start a slim network from a wide one's weights.

The two networks have the same layers in the same order; only the number of
filters differs. Each convolution of the slim network keeps the wide one's
filters whose batch-norm scale |gamma| is largest (the channels that carry the
most signal), and every later layer keeps the matching input channels.
"""
import numpy as np
from keras import layers


def _kept_channels(gamma, count):
    return np.sort(np.argsort(-np.abs(gamma), kind="stable")[:count])


def weighted_layers(model):
    """The layers of `model` that hold weights, in order."""
    return [layer for layer in model.layers if layer.weights]


def narrow_into(wide, slim):
    """Copy `wide`'s weights into `slim`, keeping the strongest channels."""
    wide_layers, slim_layers = weighted_layers(wide), weighted_layers(slim)
    if [type(layer) for layer in wide_layers] != [type(layer) for layer in slim_layers]:
        raise ValueError(f"{wide.name} and {slim.name} do not have the same layers")
    kept = None  # the channels of the latest layer's output that slim keeps
    for position, (source, target) in enumerate(zip(wide_layers, slim_layers)):
        weights = source.get_weights()
        if isinstance(source, (layers.Conv2D, layers.Dense)):
            kernel = weights[0] if kept is None else np.take(weights[0], kept, axis=-2)
            width = target.get_weights()[0].shape[-1]
            kept = np.arange(width)
            if width != kernel.shape[-1]:
                following = wide_layers[position + 1] if position + 1 < len(wide_layers) else None
                if not isinstance(following, layers.BatchNormalization):
                    raise ValueError(f"{source.name}: cannot choose channels without batch norm")
                kept = _kept_channels(following.get_weights()[0], width)
            weights = [kernel[..., kept]] + [w[kept] for w in weights[1:]]
        elif isinstance(source, layers.BatchNormalization):
            weights = [w[kept] for w in weights]
        target.set_weights(weights)
    return slim
