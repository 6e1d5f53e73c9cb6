"""Start a network whose head reads the last feature map cell by cell from one that
averages it first.

Global average pooling followed by a dense layer W is the same function as flattening
the map and a dense layer with W repeated for every cell, divided by the number of
cells. The spatial network starts as exactly the pooled one and can then learn to
weigh each cell on its own.
"""
import numpy as np
from keras import layers

from .narrow import weighted_layers


def unpool_into(pooled, spatial):
    """Copy `pooled`'s weights into `spatial`, its first dense kernel spread over the cells."""
    pooled_layers, spatial_layers = weighted_layers(pooled), weighted_layers(spatial)
    if [type(layer) for layer in pooled_layers] != [type(layer) for layer in spatial_layers]:
        raise ValueError(f"{pooled.name} and {spatial.name} do not have the same layers")
    spread = False
    for source, target in zip(pooled_layers, spatial_layers):
        weights = source.get_weights()
        wanted = [w.shape for w in target.get_weights()]
        if isinstance(source, layers.Dense) and not spread and weights[0].shape != wanted[0]:
            cells, remainder = divmod(wanted[0][0], weights[0].shape[0])
            if remainder:
                raise ValueError(f"{target.name}: {wanted[0][0]} inputs are not whole cells "
                                 f"of {weights[0].shape[0]} channels")
            weights = [np.tile(weights[0], (cells, 1)) / cells] + weights[1:]
            spread = True
        if [w.shape for w in weights] != wanted:
            raise ValueError(f"{source.name} does not fit {target.name}")
        target.set_weights(weights)
    return spatial


def is_spatial(model):
    """Whether `model` flattens its last feature map into the head."""
    return any(isinstance(layer, layers.Flatten) for layer in model.layers)
