"""The distillation methods (rd, cd, rrd, dcd): hand-computed losses, which item scores get
gradient, the teacher pass they share, and end-to-end training of both students."""

import math

import pytest
import torch
import yaml
from recbole.data.interaction import Interaction

from recbole_rd.distill import INSTANCE_ID, METHODS, TeacherNeed, TeacherRanking, build_method, teacher_ranking
from recbole_rd.distill.base import sample_positions
from recbole_rd.distill import dcd
from recbole_rd.distill.dcd import count_above, discrepancy_sampling_weights
from recbole_rd.distill.rrd import items_outside, relaxed_ranking_loss
from recbole_rd.distill.topk_cache import teacher_ranking_cached
from recbole_rd.quick_start import run_recbole_rd
from recbole_rd.trainer import DistillTrainer
from recbole_rd.utils import ConfigError, properties_dir
from conftest import CountingTeacher, tiny_config_dict
from conftest import config_with

# --- a 2-row, 5-item example (items 1..5, 0 is padding) -------------------------------------
STUDENT = [[0.0, 0.5, -1.0, 2.0, 1.0, -0.5],  # row 0: student's score of items 0..5
           [0.0, 1.5, 0.0, -2.0, 0.5, 1.0]]
TOP3 = [[3, 1, 4], [5, 2, 1]]  # teacher's top-3 of each row, best first
TEACHER_SCORES = [[2.0, 0.5, -1.0], [1.0, -1.0, -0.5]]
TARGETS = [2, 3]
SHARP = 0.05  # sampling temperature: exp(-r / 0.05) draws the best ranks first (1 - 1e-9)


def logsig(x):
    return -math.log1p(math.exp(-x))


def lse(*xs):
    return math.log(sum(math.exp(x) for x in xs))


class TableStudent(torch.nn.Module):
    """A student whose score of item i for row b is ``table[b, i]``: the student interface only."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.tensor(STUDENT))
        self.n_items = self.table.size(1)

    def ranking_loss_and_scores(self, interaction, items, frozen_items=None):
        scores = self.table[interaction[INSTANCE_ID]]
        frozen = None if frozen_items is None or frozen_items.numel() == 0 else scores.detach()[:, frozen_items]
        return torch.zeros(()), scores.gather(1, items), frozen

    def full_sort_predict(self, interaction):
        return self.table[interaction[INSTANCE_ID]].detach().clone()


def run_method(name, with_scores=False, ranks=None, **keys):
    """Loss parts and the gradient of the student's score table after one batch of the example."""
    torch.manual_seed(0)
    config = {"distill_method": name, "ITEM_ID_FIELD": "item_id", **keys}
    student = TableStudent()
    method = build_method(config, student.n_items)
    ranking = TeacherRanking(torch.tensor(TOP3, dtype=torch.int32),
                             torch.tensor(TEACHER_SCORES, dtype=torch.float16) if with_scores else None)
    interaction = Interaction({INSTANCE_ID: torch.tensor([0, 1]), "item_id": torch.tensor(TARGETS)})
    method.start_epoch(0, student, None, ranking) if ranks is None else setattr(method, "ranks", torch.tensor(ranks))
    parts = method.loss(student, interaction, ranking)
    sum(parts).backward()
    return parts, student.table.grad


def gets_gradient(grad):
    """Per row, the items whose score got a nonzero gradient."""
    return [sorted(i for i in range(grad.size(1)) if grad[b, i] != 0) for b in range(grad.size(0))]


RD_KEYS = {"alpha": 1.0, "K": 2, "lambda": 1.0, "mu": 0.1, "epsilon": 3, "weighting": "hybrid",
           "dynamic_start_epoch": 5, "renormalize_weights": False}


def test_rd_loss_by_hand_and_only_the_teacher_top_k_gets_gradient():
    (l_r, l_d), grad = run_method("rd", **{**RD_KEYS, "alpha": 2.0})
    w = [math.exp(-1) / (math.exp(-1) + math.exp(-2)), math.exp(-2) / (math.exp(-1) + math.exp(-2))]
    rows = [[2.0, 0.5], [1.0, 0.0]]  # student scores of the teacher's top-2
    hand = -sum(w[j] * logsig(rows[b][j]) for b in range(2) for j in range(2)) / 2
    assert l_d.item() == pytest.approx(2.0 * hand, rel=1e-6) and l_r.item() == 0
    assert gets_gradient(grad) == [[1, 3], [2, 5]]


CD_KEYS = {"cd_alpha": 1.0, "cd_N": 3, "cd_T": SHARP, "cd_samples": 2, "cd_tau": 2.0, "cd_shift": 0.0,
           "cd_sampling": "teacher", "cd_every": 1}


def test_cd_loss_by_hand_soft_labels_from_teacher_scores():
    (_, l_cd), grad = run_method("cd", with_scores=True, **CD_KEYS)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731

    def bce(s, t):
        q = sig(t / 2.0)
        return -(q * logsig(s) + (1 - q) * logsig(-s))

    # ranks 1 and 2 drawn: row 0 items 3, 1 (teacher 2.0, 0.5); row 1 items 5, 2 (teacher 1.0, -1.0)
    hand = (bce(2.0, 2.0) + bce(0.5, 0.5) + bce(1.0, 1.0) + bce(0.0, -1.0)) / 2
    assert l_cd.item() == pytest.approx(hand, rel=1e-5)
    assert gets_gradient(grad) == [[1, 3], [2, 5]]


def test_cd_needs_the_teacher_scores():
    method = build_method({"distill_method": "cd", "ITEM_ID_FIELD": "item_id", **CD_KEYS}, 6)
    assert method.teacher_need() == TeacherNeed(3, scores=True)


RRD_KEYS = {"rrd_alpha": 1.0, "rrd_N": 3, "rrd_K": 2, "rrd_L": 1, "rrd_T": SHARP}


def test_rrd_loss_by_hand_interesting_in_teacher_order_above_uninteresting():
    (_, l_rrd), grad = run_method("rrd", **RRD_KEYS)
    # row 0: interesting 3, 1 (scores 2.0, 0.5); the only item outside top-3 and target: 5 (-0.5)
    # row 1: interesting 5, 2 (1.0, 0.0); outside: 4 (0.5)
    row0 = (2.0 - lse(2.0, 0.5, -0.5)) + (0.5 - lse(0.5, -0.5))
    row1 = (1.0 - lse(1.0, 0.0, 0.5)) + (0.0 - lse(0.0, 0.5))
    assert l_rrd.item() == pytest.approx(-(row0 + row1) / 2, rel=1e-6)
    assert gets_gradient(grad) == [[1, 3, 5], [2, 4, 5]]


DCD_KEYS = {"dcd_alpha": 1.0, "dcd_N": 3, "dcd_K": 1, "dcd_L": 1, "dcd_T": 1.0, "dcd_every": 1, "dcd_rrd": False}


def test_dcd_loss_by_hand_corrects_under_and_over_estimated_items():
    # student ranks of the teacher's top-3 (teacher ranks 0, 1, 2)
    # row 0: [0, 4, 1] -> item 1 under-estimated (+3), item 4 over-estimated (-1)
    # row 1: [3, 0, 2] -> item 5 under-estimated (+3), item 2 over-estimated (-1)
    (_, l_dcd), grad = run_method("dcd", ranks=[[0, 4, 1], [3, 0, 2]], **DCD_KEYS)
    hand = -((0.5 - lse(0.5, 1.0)) + (1.0 - lse(1.0, 0.0))) / 2
    assert l_dcd.item() == pytest.approx(hand, rel=1e-6)
    assert gets_gradient(grad) == [[1, 4], [2, 5]]


def test_dcd_ranks_the_teacher_items_with_the_student(tiny_data):
    _, train, _, _ = tiny_data
    dataset = train._dataset
    method = build_method({"distill_method": "dcd", "ITEM_ID_FIELD": "item_id", **DCD_KEYS}, dataset.item_num)

    class Scorer(torch.nn.Module):  # scores item i as i: ranks follow the ids, largest first
        def full_sort_predict(self, interaction):
            return torch.arange(dataset.item_num, dtype=torch.float).repeat(len(interaction), 1)

    top = dataset.item_num - 1
    ids = torch.tensor([[top - 1, top - 2, 1]], dtype=torch.int32).repeat(len(dataset), 1)
    method.start_epoch(0, Scorer(), dataset, TeacherRanking(ids))
    targets = dataset.inter_feat["item_id"].unsqueeze(1)
    # rank = items scored above, the padding item and the target not counted
    expected = (top - ids.long()) - (targets > ids).long()
    clean = ~(targets == ids).any(1)
    assert clean.sum() > 0.9 * len(dataset)
    cap = dcd.saturation_cap(DCD_KEYS["dcd_N"], DCD_KEYS["dcd_T"])
    assert cap < top - 1  # item 1's rank is capped: its weights are those of the exact rank
    assert torch.equal(method.ranks[clean].long(), expected[clean].clamp(max=cap))
    exact = dcd.student_ranks(Scorer(), dataset, ids, "cpu", "item_id")
    assert torch.equal(exact[clean].long(), expected[clean])


def test_discrepancy_sampling_weights_by_hand():
    under, over = discrepancy_sampling_weights(torch.tensor([[0, 4, 1]]), T=2.0)
    assert under.tolist()[0] == pytest.approx([1e-5, math.tanh(1.5), 1e-5])
    assert over.tolist()[0] == pytest.approx([1e-5, 1e-5, math.tanh(0.5)])


def test_count_above_is_the_exact_rank():
    scores = torch.tensor([[0.5, 3.0, -torch.inf, 1.0, 0.5]])
    assert count_above(scores, torch.tensor([[3.0, 0.5, 1.0]])).tolist() == [[0, 2, 1]]
    assert count_above(scores, torch.tensor([[3.0, 0.5, 1.0]]), cap=2).tolist() == [[0, 2, 1]]  # top 2 only
    assert count_above(scores, torch.tensor([[3.0, 0.5, 1.0]]), cap=1).tolist() == [[0, 1, 1]]  # capped


def test_capped_counts_are_the_exact_ones_up_to_the_cap():
    torch.manual_seed(0)
    scores = torch.randint(0, 400, (64, 3000)).float()  # many ties
    scores[:, 0] = -torch.inf  # the padding item
    values = scores.gather(1, torch.randint(0, 3000, (64, 200)))
    exact = count_above(scores, values)
    for cap in (1, 50, 700, 1499):
        assert torch.equal(count_above(scores, values, cap), exact.clamp(max=cap))
    for cap in (3000, 10**30):  # a cap above every count (a huge dcd_T) changes nothing
        assert torch.equal(count_above(scores, values, cap), exact)


@pytest.mark.parametrize("T", [0.5, 10.0, 20.0])
def test_dcd_weights_of_capped_ranks_are_those_of_exact_ranks(T):
    """DCD ranks capped at ``saturation_cap``: sampling weights equal, bit for bit."""
    from recbole_rd.distill.dcd import saturation_cap

    torch.manual_seed(1)
    N, n_items = 500, 20000
    scores = torch.randn(32, n_items)
    teacher_top = torch.stack([torch.randperm(n_items)[:N] for _ in range(32)])  # the student disagrees
    teacher_top[:, :100] = scores.topk(100).indices  # ... and agrees on some items
    values = scores.gather(1, teacher_top)
    exact, capped = count_above(scores, values), count_above(scores, values, saturation_cap(N, T))
    assert not torch.equal(exact, capped)  # the cap was hit
    for a, b in zip(discrepancy_sampling_weights(exact, T), discrepancy_sampling_weights(capped, T)):
        assert torch.equal(a, b)


def test_relaxed_ranking_loss_is_stable_for_large_scores():
    big = torch.tensor([[1000.0, 999.0]]), torch.tensor([[998.0]])
    small = torch.tensor([[2.0, 1.0]]), torch.tensor([[0.0]])
    # float32 resolves 1e3 to ~6e-5: equal up to that
    assert relaxed_ranking_loss(*big).item() == pytest.approx(relaxed_ranking_loss(*small).item(), rel=1e-3)


def test_uninteresting_items_avoid_the_excluded_ones_and_cover_the_rest():
    torch.manual_seed(0)
    excluded = torch.tensor([[2, 5, 6], [1, 2, 3]])
    drawn = items_outside(excluded, n_items=9, k=4000)
    assert set(drawn[0].tolist()) == {1, 3, 4, 7, 8} and set(drawn[1].tolist()) == {4, 5, 6, 7, 8}
    counts = torch.bincount(drawn[1], minlength=9)[4:].float()
    assert (counts / 4000 - 0.2).abs().max() < 0.03  # uniform


def test_sampled_positions_keep_the_teacher_order():
    torch.manual_seed(0)
    # the last position is drawn first almost surely; the result is still in teacher order
    assert sample_positions(torch.tensor([1e-6, 1e-3, 1.0]), 3, rows=2).tolist() == [[0, 1, 2], [0, 1, 2]]


def test_registry_has_the_four_methods_and_refuses_unknown_ones():
    build_method({"distill_method": "rd", **RD_KEYS}, 10)
    assert {"rd", "cd", "rrd", "dcd"} <= set(METHODS)
    with pytest.raises(ConfigError, match="^distill_method: 'kd' is not one of"):
        build_method({"distill_method": "kd"}, 10)


@pytest.mark.parametrize("key,value", [("distill_method", "rdd"), ("cd_tau", 0), ("cd_N", 0),
                                       ("rrd_K", 0), ("rrd_T", -1.0), ("dcd_L", 2.5), ("dcd_rrd", "yes"),
                                       ("dcd_T", math.inf), ("dcd_alpha", math.inf)])
def test_bad_method_keys_fail_before_the_teacher_is_trained(tiny, key, value):
    method = {"cd_tau": "cd", "cd_N": "cd", "rrd_K": "rrd", "rrd_T": "rrd"}.get(key, "dcd")
    config = tiny_config_dict(tiny, **{**SMALL, "distill_method": method, key: value})
    with pytest.raises(ConfigError, match=f"^{key}:"):
        run_recbole_rd("CaserRD", "tiny", config_dict=config)
    assert not list((tiny / "saved").glob("Caser-tiny-teacher-*"))


@pytest.mark.parametrize("method,keys,refused", [("rrd", {"rrd_T": 0.1, "rrd_K": 40}, True),
                                                 ("rrd", {"rrd_T": 0.4, "rrd_K": 40}, False),
                                                 ("cd", {"cd_T": 0.05, "cd_samples": 10}, True),
                                                 ("cd", {"cd_T": 0.1, "cd_samples": 10}, False)])
def test_more_draws_than_ranks_with_a_chance_are_refused(method, keys, refused):
    """exp(-r/T) is 0 in float32 beyond r of about 103 T: drawing more items than have a chance
    would silently take items of none (torch.multinomial raises nothing)."""
    defaults = yaml.safe_load((properties_dir() / "distill.yaml").read_text())
    config = {**defaults, "ITEM_ID_FIELD": "item_id", "distill_method": method, **keys}
    draws_key, temperature_key = [key for key in keys if not key.endswith("_T")][0], f"{method}_T"
    if refused:
        with pytest.raises(ConfigError, match=rf"^{temperature_key}: {keys[temperature_key]} gives \d+ of the top "
                                              rf"\d+ ranks a chance .* fewer than {draws_key}={keys[draws_key]} draws"):
            build_method(config, 5000)
    else:
        weights = build_method(config, 5000).rank_weights
        assert int((weights > 0).sum()) >= keys[draws_key]


@pytest.mark.parametrize("method,keys", [("cd", {"cd_N": 10 ** 6, "cd_samples": 10 ** 6}),
                                         ("rrd", {"rrd_N": 500, "rrd_K": 500}),
                                         ("dcd", {"dcd_N": 500, "dcd_K": 500, "dcd_L": 500})])
def test_top_n_keys_larger_than_the_catalogue_are_capped_with_a_warning(method, keys, caplog):
    n_items = 50  # the defaults (N 100 or 500) exceed it, as on small real catalogues
    defaults = yaml.safe_load((properties_dir() / "distill.yaml").read_text())
    built = build_method({**defaults, "ITEM_ID_FIELD": "item_id", "distill_method": method, **keys}, n_items)
    upper = n_items - (3 if method == "rrd" else 2)
    assert built.N == upper and built.teacher_need().n == upper
    assert getattr(built, "samples", None) in (None, upper) and getattr(built, "K", upper) == upper
    assert f"is more than this dataset allows ({upper}); using {upper}" in caplog.text


def test_cache_is_keyed_by_n_and_by_the_need_of_scores(tiny, tiny_data):
    _, train, _, _ = tiny_data
    dataset = train._dataset
    teacher, path = CountingTeacher(dataset.item_num, scale=0.1), tiny / "teacher.pth"
    path.write_bytes(b"weights")

    def cached(n, scores):
        before = teacher.calls
        ranking, file = teacher_ranking_cached(teacher, path, dataset, TeacherNeed(n, scores), "cpu", tiny / "cache")
        return ranking, file, teacher.calls > before

    ids5, file5, computed = cached(5, False)
    assert computed and ids5.scores is None and ids5.ids.dtype == torch.int32
    assert cached(5, False)[2] is False
    ids6, file6, computed = cached(6, False)
    assert computed and file6 != file5 and ids6.ids.shape[1] == 6
    with_scores, file_s, computed = cached(5, True)
    assert computed and file_s != file5 and with_scores.scores.dtype == torch.float16
    assert torch.equal(with_scores.ids, ids5.ids)
    top = dataset.item_num - 1  # score of item i is i / 10 (float16)
    assert with_scores.scores[0, 0].item() == pytest.approx(top / 10 if dataset.inter_feat["item_id"][0] != top
                                                            else (top - 1) / 10, rel=1e-3)
    again, _, computed = cached(5, True)
    assert not computed and torch.equal(again.scores, with_scores.scores)


def test_teacher_pass_shows_a_progress_bar_with_instances_per_second(tiny_data, capsys):
    _, train, _, _ = tiny_data
    dataset = train._dataset
    teacher_ranking(CountingTeacher(dataset.item_num, scale=0.1), dataset, TeacherNeed(3), "cpu", show_progress=True)
    assert "instance/s" in capsys.readouterr().err
    teacher_ranking(CountingTeacher(dataset.item_num, scale=0.1), dataset, TeacherNeed(3), "cpu")
    assert "instance/s" not in capsys.readouterr().err


def test_epoch_log_sends_each_loss_part_to_tensorboard_and_wandb(tiny_data):
    from recbole_rd.model.sequential_recommender import CaserRD

    config, train, _, _ = tiny_data
    config = config_with(config, "CaserRD", teacher_checkpoint=None, distill_method="rd", **RD_KEYS)
    trainer = DistillTrainer(config, CaserRD(config, train._dataset))
    scalars, metrics = {}, {}
    trainer.tensorboard = type("Board", (), {
        "add_scalar": lambda self, tag, v, step: scalars.update({tag: (v, step)})})()
    trainer.wandblogger = type("Wandb", (), {"log_metrics": lambda self, m, head: metrics.update(m, head=head)})()
    trainer.method.weight_log = [0.5, 0.25]
    trainer.log_distillation(3, (10.0, 4.0), batches=2)
    assert scalars == {"Distill/L_R": (5.0, 3), "Distill/alpha*L_D": (2.0, 3), "Distill/mean weight": (0.375, 3)}
    assert metrics == {"distill/L_R": 5.0, "distill/alpha*L_D": 2.0, "distill/mean weight": 0.375,
                       "train_step": 3, "head": "train"}


# --- end to end: every method trains both students ------------------------------------------
SMALL = dict(cd_N=20, cd_samples=5, rrd_N=30, rrd_K=10, rrd_L=10, dcd_N=30, dcd_K=10, dcd_L=10)


@pytest.fixture(scope="module")
def teachers(tiny_teachers):
    """A tiny dataset and a 1-epoch Caser and Fossil teacher (d=100) on it, shared by the test session."""
    return tiny_teachers


@pytest.mark.parametrize("method", ["cd", "rrd", "dcd"])
@pytest.mark.parametrize("student", ["CaserRD", "FossilRD"])
def test_every_method_trains_every_student(teachers, method, student):
    root, checkpoints = teachers
    config = tiny_config_dict(root, epochs=1, distill_method=method, teacher_checkpoint=checkpoints[student[:-2]],
                              dcd_rrd=True, **SMALL)
    result = run_recbole_rd(student, "tiny", config_dict=config)
    trainer = result["trainer"]
    assert trainer.method.name == method and trainer.teacher_ranking.ids.shape[1] in (20, 30)
    assert all(math.isfinite(v) for v in result["test_result"].values())
    assert result["test_result"]["hit@10"] > 0


def test_rd_default_reproduces_the_losses_from_before_the_methods(tiny, monkeypatch):
    """Numbers captured from the code before distill_method existed (same seed, tiny data, K=5):
    ``(L_R, alpha * L_D)`` summed over the batches of epochs 0 (position) and 1 (hybrid). Epoch 1
    changed once since, on purpose: a rank-estimate sample that is the candidate itself no
    longer counts as scored above it (before: 27.080952644348145, 0.24172989703947678; with 90
    items and epsilon 100 most candidates are sampled, and rounding decided half of them)."""
    parts = []
    train_epoch = DistillTrainer._train_epoch
    monkeypatch.setattr(DistillTrainer, "_train_epoch", lambda self, *a, **k: parts.append(
        train_epoch(self, *a, **k)) or parts[-1])
    result = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
        tiny, K=5, dynamic_start_epoch=1, epochs=2, seed=2020))
    assert result["trainer"].method.name == "rd"
    assert parts == [pytest.approx((29.478413581848145, 6.875715434551239), rel=1e-6),
                     pytest.approx((27.081332206726074, 0.12385645549511537), rel=1e-6)]
