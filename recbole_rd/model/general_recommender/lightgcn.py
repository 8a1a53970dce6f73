r"""LightGCN
################################################
RecBole's LightGCN with its graph built without scipy's private ``dok_matrix._update``, which scipy 1.13
removed (RecBole issue #2034: RecBole 1.2.1's LightGCN, NGCF and SpectralCF then fail at construction).
The normalised matrix ``D^-1/2 A D^-1/2`` is the same. ``recbole.LightGCN`` still selects RecBole's own.
"""

import numpy as np
import scipy.sparse as sp
import torch
from recbole.model.general_recommender.lightgcn import LightGCN as RecBoleLightGCN


def normalized_adjacency(interaction_matrix, n_users, n_items):
    """``D^-1/2 A D^-1/2`` as a torch sparse tensor: ``A`` the symmetric 0/1 user-item graph of the
    interactions (users first, then items), ``D`` its degrees (+1e-7, as RecBole's)."""
    inter = interaction_matrix.tocoo()
    rows = np.concatenate([inter.row, inter.col + n_users])
    cols = np.concatenate([inter.col + n_users, inter.row])
    size = n_users + n_items
    adjacency = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(size, size))
    adjacency.data[:] = 1.0  # repeated interactions are one edge
    degree = np.asarray((adjacency > 0).sum(axis=1)).flatten() + 1e-7
    scale = sp.diags(np.power(degree, -0.5))
    normalized = sp.coo_matrix(scale @ adjacency @ scale)
    index = torch.LongTensor(np.array([normalized.row, normalized.col]))
    return torch.sparse_coo_tensor(index, torch.FloatTensor(normalized.data), torch.Size(normalized.shape),
                                   check_invariants=False)


class LightGCN(RecBoleLightGCN):
    r"""LightGCN (He et al., SIGIR 2020): mean of the layers of a normalised user-item graph propagation."""

    configured_as_recbole = True  # RecBole's defaults (pairs with sampled negatives, its split), not overall.yaml

    def get_norm_adj_mat(self):
        return normalized_adjacency(self.interaction_matrix, self.n_users, self.n_items)
