r"""Pop
################################################
RecBole's Pop with exact counts. RecBole 1.2.1 counts with ``item_cnt[item] = item_cnt[item] + 1``,
which keeps one of repeated indices: an item gains 1 per *batch* it appears in, so its "popularity"
saturates at the number of batches and the ranking depends on the batch size and the shuffle order
(seed). ``recbole.Pop`` still selects RecBole's own.
"""

import torch
from recbole.model.general_recommender.pop import Pop as RecBolePop


class Pop(RecBolePop):
    r"""Recommends the items with the most training interactions (labelled positive, where the
    interactions carry a label: sampled negatives are not counted)."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.LABEL = config["LABEL_FIELD"]

    def calculate_loss(self, interaction):
        item = interaction[self.ITEM_ID]
        counts = torch.ones_like(item) if self.LABEL not in interaction else (interaction[self.LABEL] > 0).long()
        self.item_cnt.index_add_(0, item, counts.unsqueeze(1))
        self.max_cnt = torch.max(self.item_cnt, dim=0)[0]
        return torch.nn.Parameter(torch.zeros(1)).to(self.device)
