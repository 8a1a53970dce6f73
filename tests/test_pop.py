"""Pop counts every training interaction (RecBole 1.2.1's counts an item once per batch)."""

import pytest
import torch
from conftest import tiny_config_dict

from recbole_rd.model.registry import get_model
from recbole_rd.quick_start import prepare


def counts_after_training(model_name, tiny, batch_size, seed):
    config, train, _, _ = prepare(model_name, "tiny", config_dict=tiny_config_dict(
        tiny, train_batch_size=batch_size, seed=seed))
    model = get_model(model_name)(config, train._dataset)
    for batch in train:
        model.calculate_loss(batch)
    items = train._dataset.inter_feat[config["ITEM_ID_FIELD"]]
    return model, torch.bincount(items, minlength=model.n_items)


@pytest.mark.parametrize("batch_size, seed", [(7, 1), (64, 2), (100_000, 3)])
def test_pop_counts_every_training_interaction_whatever_the_batches(tiny, batch_size, seed):
    model, expected = counts_after_training("Pop", tiny, batch_size, seed)
    assert expected.max() > 1  # repeated items, so a per-batch count would differ
    assert torch.equal(model.item_cnt.squeeze(1), expected)
    assert model.max_cnt.item() == expected.max().item()
    scores = model.full_sort_predict({model.USER_ID: torch.tensor([1, 2])}).view(2, -1)
    assert torch.equal(scores[0].argsort(descending=True, stable=True), expected.argsort(descending=True, stable=True))


def test_recbole_pop_is_still_recboles_and_counts_per_batch(tiny):
    from recbole.model.general_recommender.pop import Pop as RecBolePop

    assert get_model("recbole.Pop") is RecBolePop and get_model("Pop") is not RecBolePop
    model, expected = counts_after_training("recbole.Pop", tiny, 100_000, 1)  # one batch
    assert model.item_cnt.max().item() == 1 < expected.max().item()


def test_sampled_negatives_are_not_counted(tiny):
    from recbole.data.interaction import Interaction

    config, train, _, _ = prepare("Pop", "tiny", config_dict=tiny_config_dict(tiny))
    model = get_model("Pop")(config, train._dataset)
    model.calculate_loss(Interaction({config["ITEM_ID_FIELD"]: torch.tensor([3, 3, 4, 5]),
                                      config["LABEL_FIELD"]: torch.tensor([1.0, 1.0, 0.0, 1.0])}))
    assert model.item_cnt[[3, 4, 5], 0].tolist() == [2, 0, 1]
