"""Tensor helpers shared by the paper's models: activations and windows.

The user histories (``UserHistory``) and CSR helpers live in :mod:`recbole_rd.sparse`,
where the data split and the evaluator use them too.
"""

import torch
from torch import nn

ACTIVATIONS = {
    "iden": nn.Identity,
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigm": nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
}


def activation(key, name):
    """The activation module named by config key ``key``."""
    from recbole_rd.utils import ConfigError

    if name not in ACTIVATIONS:
        raise ConfigError(f"{key}: unknown activation '{name}'; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def right_align(item_seq, item_seq_len, window):
    """Last ``window`` items of RecBole's left-aligned sequences, most recent last,
    zero-padded on the left (the layout of the Caser paper's code)."""
    offsets = torch.arange(window, device=item_seq.device)
    pos = item_seq_len.unsqueeze(1) - window + offsets
    gathered = item_seq.gather(1, pos.clamp(min=0, max=item_seq.size(1) - 1))
    return gathered * (pos >= 0)
