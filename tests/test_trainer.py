import torch

from conftest import config_with
from recbole_rd.model.sequential_recommender import Caser
from recbole_rd.trainer.trainer import SafeTrainer


def test_adam_is_fused_when_asked_and_makes_the_same_update(tiny_data):
    config, train, _, _ = tiny_data
    assert not SafeTrainer(config, Caser(config, train._dataset)).optimizer.defaults["fused"]  # off by default
    batch = next(iter(train))
    updated = {}
    for fused in (True, False):
        torch.manual_seed(0)
        model = Caser(config, train._dataset)
        trainer = SafeTrainer(config_with(config, fused_optimizer=fused), model)
        optimizer = trainer.optimizer
        assert type(optimizer) is torch.optim.Adam and bool(optimizer.defaults["fused"]) is fused
        assert optimizer.defaults["lr"] == config["learning_rate"]
        assert optimizer.defaults["weight_decay"] == config["weight_decay"]
        for _ in range(3):
            torch.manual_seed(1)  # same negatives and dropout for both
            optimizer.zero_grad()
            model.calculate_loss(batch).backward()
            optimizer.step()
        updated[fused] = model.state_dict()
    for name, value in updated[True].items():
        torch.testing.assert_close(value, updated[False][name], rtol=1e-5, atol=1e-6)
