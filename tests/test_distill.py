import math

import pytest
import torch

from recbole_rd.checkpoint import CheckpointError, load_checkpoint
from recbole_rd.distill import (
    RankingDistillationLoss,
    discrepancy_weights,
    estimate_student_rank,
    position_weights,
    teacher_topk,
    teacher_topk_cached,
)
from recbole_rd.distill.teacher import load_teacher
from recbole_rd.quick_start import prepare, run_recbole_rd, train_and_test
from recbole_rd.trainer import get_trainer
from recbole_rd.model.registry import get_model
from recbole_rd.utils import ConfigError
from conftest import CountingTeacher, tiny_config_dict, write_tiny
from conftest import config_with


def test_position_weights_by_hand():
    e = [math.exp(-r) for r in (1, 2, 3)]
    expected = [x / sum(e) for x in e]
    assert position_weights(3, 1.0).tolist() == pytest.approx(expected)
    assert position_weights(3, 1.0).tolist() == pytest.approx([0.6652, 0.2447, 0.0900], abs=1e-4)


def test_rank_estimate_by_hand():
    candidates = torch.tensor([[0.5, -1.0, 3.0]])
    samples = torch.tensor([[1.0, 0.0, 2.0, -2.0]])
    # above 0.5: {1, 2} -> 2/4; above -1: {1, 0, 2} -> 3/4; above 3: none
    rank = estimate_student_rank(candidates, samples, n_items=101)
    assert rank.tolist() == [[50.0, 75.0, 0.0]]


def test_discrepancy_weights_by_hand():
    rank = torch.tensor([[50.0, 75.0, 0.0, 2.0]])
    w = discrepancy_weights(rank, mu=0.1)
    expected = [math.tanh(0.1 * 50), math.tanh(0.1 * 74), 0.0, 0.0]  # teacher ranks 0,1,2,3
    assert w.tolist()[0] == pytest.approx(expected)


def test_distillation_loss_by_hand_and_hybrid_switch():
    loss_fn = RankingDistillationLoss(K=2, lam=1.0, mu=0.5, epsilon=2, n_items=11,
                                      weighting="hybrid", dynamic_start_epoch=3)
    cand = torch.tensor([[1.0, -1.0], [0.0, 2.0]])
    samples = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    wa = [math.exp(-1) / (math.exp(-1) + math.exp(-2)), math.exp(-2) / (math.exp(-1) + math.exp(-2))]
    logsig = lambda x: -math.log1p(math.exp(-x))  # noqa: E731
    before, w_before = loss_fn(cand, samples, epoch=2)
    hand = -((wa[0] * logsig(1) + wa[1] * logsig(-1)) + (wa[0] * logsig(0) + wa[1] * logsig(2))) / 2
    assert before.item() == pytest.approx(hand, rel=1e-6)
    assert w_before.tolist() == [pytest.approx(wa)]
    # epoch 3: ranks = floor(10 * above / 2): row0 -> [5, 10], row1 -> [10, 5]
    after, w_after = loss_fn(cand, samples, epoch=3)
    wb = [[math.tanh(0.5 * 5), math.tanh(0.5 * 9)], [math.tanh(0.5 * 10), math.tanh(0.5 * 4)]]
    expected_w = [[wa[j] * wb[i][j] for j in range(2)] for i in range(2)]
    assert w_after.tolist()[0] == pytest.approx(expected_w[0])
    assert w_after.tolist()[1] == pytest.approx(expected_w[1])
    hand_after = -sum(expected_w[i][j] * logsig(cand[i, j].item()) for i in range(2) for j in range(2)) / 2
    assert after.item() == pytest.approx(hand_after, rel=1e-6)


def test_renormalised_hybrid_weights_sum_to_one():
    loss_fn = RankingDistillationLoss(3, 1.0, 0.1, 4, 50, "hybrid", 0, renormalize=True)
    w = loss_fn.weights(torch.zeros(2, 3), torch.ones(2, 4), epoch=0)
    assert w.sum(1).tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("key,value", [("K", 0), ("K", 49), ("lam", 0.0), ("mu", -0.1),
                                       ("epsilon", 0), ("weighting", "softmax"), ("dynamic_start_epoch", -1)])
def test_bad_distillation_settings_are_refused_with_the_key_named(key, value):
    args = dict(K=5, lam=1.0, mu=0.1, epsilon=10, n_items=50, weighting="hybrid", dynamic_start_epoch=0)
    args[key] = value
    name = {"lam": "lambda"}.get(key, key)
    with pytest.raises(ConfigError, match=f"^{name}:"):
        RankingDistillationLoss(**args)


def test_topk_never_contains_targets_or_padding_and_is_chunked(tiny_data):
    _, train, _, _ = tiny_data
    dataset = train._dataset
    teacher = CountingTeacher(dataset.item_num)
    topk = teacher_topk(teacher, dataset, K=5, device="cpu", chunk_size=100)
    targets = dataset.inter_feat["item_id"]
    assert topk.shape == (len(dataset), 5)
    assert not (topk == targets.unsqueeze(1)).any()
    assert (topk > 0).all()
    assert teacher.calls == math.ceil(len(dataset) / 100)
    top = dataset.item_num - 1  # teacher's best item, removed only where it is the target
    assert ((topk[:, 0] == top) == (targets != top)).all()


@pytest.mark.parametrize("model_name", ["Caser", "Fossil"])
def test_topk_over_item_blocks_equals_the_full_ranking(tiny_data, model_name):
    config, train, _, _ = tiny_data
    dataset = train._dataset
    torch.manual_seed(1)
    model = get_model(model_name)(config_with(config, model_name, fossil_alpha=0.5), dataset).eval()
    full = teacher_topk(model, dataset, K=6, device="cpu", chunk_size=50, item_block=dataset.item_num)
    blocks = teacher_topk(model, dataset, K=6, device="cpu", chunk_size=50, item_block=17)
    assert torch.equal(full, blocks)
    assert not (blocks == dataset.inter_feat["item_id"].unsqueeze(1)).any() and (blocks > 0).all()


def reweighted(checkpoint, folder):
    """A copy of the Caser teacher ``checkpoint`` with other weights (W2 shifted): the same model
    and settings, another teacher."""
    state = torch.load(checkpoint, weights_only=True)
    state["state_dict"]["W2.weight"] = state["state_dict"]["W2.weight"] + 1.0
    torch.save(state, folder / "other-teacher.pth")
    return str(folder / "other-teacher.pth")


def test_cache_is_reused_and_invalidated_when_teacher_changes(tiny, tiny_data, tiny_teachers):
    config, train, _, _ = tiny_data
    dataset = train._dataset
    path = tiny_teachers[1]["Caser"]
    teacher, _ = load_teacher(config, dataset, path)
    cache = tiny / "cache"
    first, file1 = teacher_topk_cached(teacher, path, dataset, 5, "cpu", cache)
    calls = []
    teacher.full_sort_predict = lambda inter, f=teacher.full_sort_predict: calls.append(1) or f(inter)
    again, file2 = teacher_topk_cached(teacher, path, dataset, 5, "cpu", cache)
    assert file1 == file2 and calls == [] and torch.equal(first, again)
    other = reweighted(path, tiny)
    _, file3 = teacher_topk_cached(teacher, other, dataset, 5, "cpu", cache)
    assert file3 != file1 and calls
    file1.write_bytes(b"garbage")
    calls.clear()
    recomputed, _ = teacher_topk_cached(teacher, path, dataset, 5, "cpu", cache)
    assert calls and torch.equal(recomputed, first)


def test_caserrd_trains_teacher_then_student_and_reuses_a_given_teacher(tiny):
    config = tiny_config_dict(tiny, dynamic_start_epoch=1, K=5)
    result = run_recbole_rd("CaserRD", "tiny", config_dict=config)
    teacher = result["teacher"]
    assert teacher["embedding_size"] == 100 and result["embedding_size"] == 50
    assert result["parameters"] < 0.6 * teacher["parameters"]
    trainer = result["trainer"]
    assert trainer.teacher is not None and trainer.teacher_ranking.ids.shape[1] == 5
    assert trainer.method.weight_log and max(trainer.method.weight_log) < 1.0  # last epoch (1) hybrid: < position
    again = run_recbole_rd("CaserRD", "tiny", config_dict={**config, "epochs": 1,
                                                           "teacher_checkpoint": teacher["checkpoint"]})
    assert "teacher" not in again
    assert torch.equal(again["trainer"].teacher_ranking.ids.cpu(), trainer.teacher_ranking.ids.cpu())


def test_fossilrd_runs_end_to_end(tiny):
    settings = dict(epochs=1, K=5, dynamic_start_epoch=0)
    result = run_recbole_rd("FossilRD", "tiny", config_dict=tiny_config_dict(tiny, **settings))
    assert result["teacher"]["model"] == "Fossil" and result["model"] == "FossilRD"
    assert_checkpoint_holds_the_model(result)
    config, train, _, test = prepare("FossilRD", "tiny", config_dict=tiny_config_dict(tiny, **settings))
    model = get_model("FossilRD")(config, train._dataset)
    model.load_state_dict(load_checkpoint(result["checkpoint"])["state_dict"])
    fresh = get_trainer(config["MODEL_TYPE"], "FossilRD", type(model))(config, model)
    assert dict(fresh.evaluate(test, load_best_model=False)) == dict(result["test_result"])


def test_sasrec_teacher_distils_into_caser(tiny):
    sasrec = run_recbole_rd("SASRec", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, MAX_ITEM_LIST_LENGTH=5, n_layers=1, hidden_size=16,
        inner_size=32, n_heads=1))
    result = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, teacher_checkpoint=sasrec["checkpoint"], K=5))
    assert type(result["trainer"].teacher).__name__ == "SASRec"
    assert result["test_result"]["hit@10"] > 0


def test_teacher_from_other_data_is_refused_before_training(tiny, tiny_teachers):
    path = tiny_teachers[1]["Caser"]
    write_tiny(tiny, name="other", n_items=120, seed=3)
    with pytest.raises(CheckpointError, match="(?s)different data.*dataset name.*number of items"):
        run_recbole_rd("CaserRD", "other", config_dict=tiny_config_dict(tiny, teacher_checkpoint=path, K=5))


def test_student_requires_a_teacher_when_trainer_used_directly(tiny_data):
    from recbole_rd.trainer import DistillTrainer
    from recbole_rd.model.sequential_recommender import CaserRD

    config, train, valid, _ = tiny_data
    config = config_with(config, "CaserRD", teacher_checkpoint=None, alpha=1.0, K=5, **{
        "lambda": 1.0, "mu": 0.1, "epsilon": 10, "weighting": "hybrid", "dynamic_start_epoch": 0})
    trainer = DistillTrainer(config, CaserRD(config, train._dataset))
    with pytest.raises(ConfigError, match="teacher_checkpoint"):
        trainer.fit(train, valid)
    with pytest.raises(ConfigError, match="alpha"):
        DistillTrainer(config_with(config, alpha=-1), CaserRD(config, train._dataset))


def test_unknown_model_name_lists_the_choices(tiny):
    with pytest.raises(ConfigError, match="unknown model 'Casr'.*CaserRD"):
        prepare("Casr", "tiny", config_dict=tiny_config_dict(tiny))


def test_train_and_test_helper_is_shared(tiny_data):
    config, train, valid, test = tiny_data
    result = train_and_test(config_with(config, epochs=1), train, valid, test)
    assert_checkpoint_holds_the_model(result)


def assert_checkpoint_holds_the_model(result):
    """The result's checkpoint exists, loads safely and holds the weights of the tested model."""
    state = load_checkpoint(result["checkpoint"])
    weights = result["trainer"].model.state_dict()
    assert state["model"] == result["model"] and state["state_dict"].keys() == weights.keys()
    for name, value in weights.items():
        assert torch.equal(state["state_dict"][name], value.cpu()), name


def test_bad_distillation_keys_fail_before_the_teacher_is_trained(tiny):
    with pytest.raises(ConfigError, match="^K:"):
        run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, K=0))
    with pytest.raises(ConfigError, match="^alpha:"):
        run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, alpha=-0.5))
    assert not list((tiny / "saved").glob("Caser-tiny-teacher-*"))


# --- the trainer at work: what DistillTrainer computes for one batch -------------------------


@pytest.fixture(scope="module")
def rd_data(tiny_teachers):
    """A folder with the tiny data, and a Caser and a Fossil teacher trained on it (1 epoch)."""
    return tiny_teachers


OUTPUT_TABLES = {"CaserRD": ("W2.weight", "b2.weight"), "FossilRD": ("item_out.weight", "item_bias.weight")}


class Student:
    """A DistillTrainer of a fresh student (same weights for the same seed, no dropout), its
    teacher loaded on its own, and a batch of 16 training instances."""

    def __init__(self, rd_data, model="CaserRD", seed=0, **keys):
        from recbole_rd.trainer import DistillTrainer

        folder, teachers = rd_data
        settings = {**dict(teacher_checkpoint=teachers[model[:-2]], K=3, epsilon=20, mu=0.1, alpha=1.0,
                           dropout_prob=0.0, weighting="hybrid", dynamic_start_epoch=2,
                           topk_cache_dir=str(folder / "cache")), **keys}
        config, train, _, _ = prepare(model, "tiny", config_dict=tiny_config_dict(folder, **settings))
        torch.manual_seed(seed)
        self.model = get_model(model)(config, train._dataset)
        self.trainer = DistillTrainer(config, self.model)
        self.trainer.prepare_teacher(train)
        self.dataset = train._dataset
        self.teacher, _ = load_teacher(config, self.dataset, config["teacher_checkpoint"])
        self.batch = next(iter(train))[:16]
        self.K, self.n_items = config["K"], self.dataset.item_num

    @torch.no_grad()
    def teacher_topk(self):
        """The teacher's top-K of each instance, by hand: padding and the target excluded."""
        scores = self.teacher.full_sort_predict(self.batch)
        scores[:, 0] = -torch.inf
        scores[torch.arange(len(scores)), self.batch["item_id"]] = -torch.inf
        return scores.topk(self.K, dim=1).indices

    @torch.no_grad()
    def scores(self):
        """The student's scores of all items (as they are now, before the next step)."""
        return self.model.eval().full_sort_predict(self.batch)

    def gradients(self):
        return {name: p.grad.clone() for name, p in self.model.named_parameters() if p.grad is not None}


class OneBatch(list):
    """A training loader of one batch, for RecBole's ``_train_epoch``."""

    shuffle = False

    def __init__(self, batch, dataset):
        super().__init__([batch])
        self._dataset = dataset


def train_one_batch(student, epoch, seed=1):
    """One training step of the student's DistillTrainer on its batch at ``epoch``, through
    RecBole's per-epoch hook ``_train_epoch``; returns ``(loss parts (L_R, alpha*L_D),
    [(candidate scores, sample scores, weights)])``.

    The one place that touches an internal: the scores and weights are captured where the
    RD method hands them to :class:`RankingDistillationLoss`
    (``forward(candidate_scores, sample_scores, epoch) -> (L_D, weights)``)."""
    seen, forward = [], RankingDistillationLoss.forward

    def spy(self, candidate_scores, sample_scores, *args, **kwargs):
        loss, weights = forward(self, candidate_scores, sample_scores, *args, **kwargs)
        samples = None if sample_scores is None or sample_scores.numel() == 0 else sample_scores.clone()
        seen.append((candidate_scores.detach().clone(), samples, weights.clone()))
        return loss, weights

    RankingDistillationLoss.forward = spy
    try:
        torch.manual_seed(seed)
        parts = student.trainer._train_epoch(OneBatch(student.batch, student.dataset), epoch)
    finally:
        RankingDistillationLoss.forward = forward
    return parts, seen


def logsigmoid(x):
    return -torch.log1p(torch.exp(-x.double()))


def test_dynamic_weights_switch_on_at_dynamic_start_epoch_as_the_formula_says(rd_data):
    student = Student(rd_data, alpha=0.5)  # K=3, epsilon=20, mu=0.1, hybrid from epoch 2
    K, n, mu, eps = student.K, student.n_items, 0.1, 20
    w_a = torch.tensor([math.exp(-r) for r in (1, 2, 3)], dtype=torch.double)
    w_a /= w_a.sum()
    topk = student.teacher_topk()
    weights = {}
    for epoch in (1, 2):  # dynamic_start_epoch - 1, dynamic_start_epoch
        scores = student.scores()
        (l_r, l_d), seen = train_one_batch(student, epoch)
        [(cand, samples, w)] = seen
        hand_cand = scores.gather(1, topk)
        torch.testing.assert_close(cand, hand_cand, rtol=1e-5, atol=1e-6)  # the teacher's top-K, student's scores
        if epoch == 1:
            assert samples is None  # position weights need no rank estimate
            hand_w = w_a.expand(len(topk), K)
        else:
            # which item each sampled score belongs to: a real item (never the padding item 0)
            items = [int((scores - samples[:, [c]]).abs().amax(0).argmin()) for c in range(eps)]
            torch.testing.assert_close(samples, scores[:, items], rtol=1e-5, atol=1e-6)
            assert len(samples[0]) == eps and min(items) >= 1
            above = (scores[:, items].unsqueeze(1) > hand_cand.unsqueeze(2)).sum(2).double()
            rank_hat = torch.floor((n - 1) * above / eps)
            w_b = torch.tanh(mu * (rank_hat - torch.arange(K))).clamp(min=0)
            hand_w = w_a * w_b
        torch.testing.assert_close(w.double().expand(len(topk), K), hand_w, rtol=1e-5, atol=1e-7)
        hand_l_d = -(hand_w * logsigmoid(hand_cand)).sum(1).mean()
        assert l_d == pytest.approx(0.5 * hand_l_d.item(), rel=1e-5)
        assert l_r > 0
        weights[epoch] = hand_w
    before, after = weights[1], weights[2]
    assert bool((after <= before + 1e-12).all())  # w_b <= 1 scales the position weights down ...
    assert bool((after > 0).any()) and bool((after < before - 1e-3).any())  # ... by amounts that vary
    assert len({round(x, 6) for x in (after / before).flatten().tolist()}) > 2


@pytest.mark.parametrize("model", ["CaserRD", "FossilRD"])
def test_alpha_zero_gives_exactly_the_ranking_loss_gradient_and_alpha_one_adds_l_d(rd_data, model):
    grads, parts = {}, {}
    for alpha in (0.0, 1.0):
        student = Student(rd_data, model, alpha=alpha, dynamic_start_epoch=5)
        parts[alpha], _ = train_one_batch(student, epoch=0)
        grads[alpha] = student.gradients()
    alone = Student(rd_data, model)  # the same student trained by its own loss L_R only
    alone.model.train()
    torch.manual_seed(1)
    alone.model.calculate_loss(alone.batch).backward()
    ranking_only = alone.gradients()
    assert parts[0.0][1] == 0.0 and parts[1.0][1] > 0 and parts[0.0][0] == parts[1.0][0]
    assert grads[0.0].keys() == ranking_only.keys()
    for name, grad in grads[0.0].items():
        assert torch.equal(grad, ranking_only[name]), name
    changed = [name for name in grads[1.0] if not torch.equal(grads[1.0][name], grads[0.0][name])]
    assert set(OUTPUT_TABLES[model]) <= set(changed)


@pytest.mark.parametrize("model", ["CaserRD", "FossilRD"])
def test_l_d_gradient_reaches_exactly_the_teachers_topk_items(rd_data, model):
    grads = {}
    for alpha in (0.0, 1.0):
        student = Student(rd_data, model, alpha=alpha, dynamic_start_epoch=5)
        train_one_batch(student, epoch=0)
        grads[alpha] = student.gradients()
    lists = student.teacher_topk()
    assert not (lists == student.batch["item_id"].unsqueeze(1)).any() and (lists > 0).all()
    topk = set(lists.flatten().tolist())
    assert student.K < len(topk) < student.n_items / 4  # the rows' lists differ; most items are outside
    for table in OUTPUT_TABLES[model]:  # the student's item tables that score items
        from_l_d = (grads[1.0][table] - grads[0.0][table]).abs().amax(1)
        assert set(torch.nonzero(from_l_d > 1e-7).flatten().tolist()) == topk, table
