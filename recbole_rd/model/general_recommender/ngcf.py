r"""NGCF
################################################
RecBole's NGCF with its graph built as this package's :class:`LightGCN` builds it (scipy 1.13 removed the
``dok_matrix._update`` RecBole 1.2.1 calls). ``recbole.NGCF`` still selects RecBole's own.
"""

from recbole.model.general_recommender.ngcf import NGCF as RecBoleNGCF

from recbole_rd.model.general_recommender.lightgcn import normalized_adjacency


class NGCF(RecBoleNGCF):
    r"""NGCF (Wang et al., SIGIR 2019): graph propagation with feature transforms and bi-interactions."""

    configured_as_recbole = True  # RecBole's defaults (pairs with sampled negatives, its split), not overall.yaml

    def get_norm_adj_mat(self):
        return normalized_adjacency(self.interaction_matrix, self.n_users, self.n_items)
