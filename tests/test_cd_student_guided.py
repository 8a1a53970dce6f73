"""CD's student-guided sampling (``cd_sampling: student``) beside the teacher-guided default:
hand-computed probabilities on the 2-row, 5-item example of test_distill_methods, the unchanged
teacher-guided loss, key checks and a short training run."""

import math

import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_rd.distill import INSTANCE_ID, TeacherRanking, build_method
from recbole_rd.distill import dcd
from recbole_rd.distill.cd import positions_by_rank
from recbole_rd.quick_start import run_recbole_rd
from recbole_rd.trainer import DistillTrainer
from recbole_rd.utils import ConfigError
from conftest import tiny_config_dict
from test_distill_methods import (  # noqa: F401  (teachers: the module's shared tiny teachers)
    CD_KEYS,
    SHARP,
    SMALL,
    TARGETS,
    TEACHER_SCORES,
    TOP3,
    TableStudent,
    gets_gradient,
    logsig,
    run_method,
    teachers,
)

STUDENT_CD = {**CD_KEYS, "cd_sampling": "student", "cd_every": 1}


class TableDataset:
    """The two training rows of the example: what ``student_ranks`` reads of a dataset."""

    item_num = 6
    inter_feat = Interaction({INSTANCE_ID: torch.tensor([0, 1]), "item_id": torch.tensor(TARGETS)})

    def __len__(self):
        return 2


def student_guided(T, **keys):
    """A student-guided CD after its epoch-0 ranking of the example, the batch of both rows and the
    teacher's ranking."""
    method = build_method({"distill_method": "cd", "ITEM_ID_FIELD": "item_id", **STUDENT_CD, "cd_T": T, **keys}, 6)
    ranking = TeacherRanking(torch.tensor(TOP3, dtype=torch.int32), torch.tensor(TEACHER_SCORES))
    method.start_epoch(0, TableStudent(), TableDataset(), ranking)
    return method, Interaction({INSTANCE_ID: torch.tensor([0, 1]), "item_id": torch.tensor(TARGETS)}), ranking


def test_the_student_ranks_the_teacher_top_n_once_per_epoch():
    # row 0 (target 2): student scores 3: 2.0 > 4: 1.0 > 1: 0.5 > 5: -0.5 -> top-3 [3, 1, 4] at 0, 2, 1
    # row 1 (target 3): 1: 1.5 > 5: 1.0 > 4: 0.5 > 2: 0.0 -> top-3 [5, 2, 1] at 1, 3, 0
    # ranks among the top-3 themselves: the same order
    method, _, _ = student_guided(T=1.0)
    assert method.ranks.tolist() == [[0, 2, 1], [1, 2, 0]]


def test_ranks_among_the_top_n_order_it_as_ranks_among_all_items():
    """Student-guided CD ranks the teacher's top-N among themselves: the same positions as exact
    ranks among all items (ties included), without sorting the catalogue."""
    torch.manual_seed(0)
    scores = torch.randint(0, 50, (64, 2000)).float()  # many ties
    top_n = torch.stack([torch.randperm(2000)[:100] for _ in range(64)])
    values = scores.gather(1, top_n)
    assert torch.equal(positions_by_rank(dcd.count_above(values, values)),
                       positions_by_rank(dcd.count_above(scores, values)))


def test_student_guided_probabilities_by_hand():
    method, batch, ranking = student_guided(T=1.0)
    p = method.sampling_weights(batch, ranking)
    p = (p / p.sum(1, keepdim=True)).tolist()
    z = math.exp(-1) + math.exp(-2) + math.exp(-3)
    # row 0: the student's order of the top-3 is [3, 4, 1]: teacher positions 0, 2, 1 get r = 1, 3, 2
    assert p[0] == pytest.approx([math.exp(-1) / z, math.exp(-3) / z, math.exp(-2) / z], rel=1e-6)
    # row 1: the student's order is [1, 5, 2]: teacher positions 0, 1, 2 get r = 2, 3, 1
    assert p[1] == pytest.approx([math.exp(-2) / z, math.exp(-3) / z, math.exp(-1) / z], rel=1e-6)
    assert p[0] == pytest.approx([0.665241, 0.090031, 0.244728], abs=1e-6)


def test_equal_student_ranks_keep_the_teacher_order():
    assert positions_by_rank(torch.tensor([[5, 2, 5, 2]])).tolist() == [[2, 0, 3, 1]]


def test_student_guided_loss_by_hand_draws_the_student_top_items():
    method, batch, _ = student_guided(T=SHARP)
    student = TableStudent()
    torch.manual_seed(0)
    l_r, l_cd = method.loss(student, batch, TeacherRanking(torch.tensor(TOP3), torch.tensor(TEACHER_SCORES)))
    (l_r + l_cd).backward()
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731

    def bce(s, t):
        q = sig(t / 2.0)
        return -(q * logsig(s) + (1 - q) * logsig(-s))

    # student's top-2 of the teacher's top-3: row 0 items 3, 4 (teacher 2.0, -1.0; student 2.0, 1.0);
    # row 1 items 5, 1 (teacher 1.0, -0.5; student 1.0, 1.5). Teacher-guided would pick 3, 1 and 5, 2.
    hand = (bce(2.0, 2.0) + bce(1.0, -1.0) + bce(1.0, 1.0) + bce(1.5, -0.5)) / 2
    assert l_cd.item() == pytest.approx(hand, rel=1e-5)
    assert gets_gradient(student.table.grad) == [[3, 4], [1, 5]]


def test_student_ranks_are_refreshed_every_cd_every_epochs(monkeypatch):
    calls = []
    real = dcd.student_ranks
    monkeypatch.setattr(dcd, "student_ranks", lambda *a, **k: calls.append(1) or real(*a, **k))
    method, _, _ = student_guided(T=1.0, cd_every=2)
    for epoch in (1, 2, 3, 4):
        method.start_epoch(epoch, TableStudent(), TableDataset(), TeacherRanking(torch.tensor(TOP3)))
    assert len(calls) == 3  # epochs 0, 2, 4


@pytest.mark.parametrize("T,samples", [(SHARP, 2), (1.0, 1), (3.0, 2)])
def test_teacher_sampling_ignores_cd_every(T, samples):
    keys = {**CD_KEYS, "cd_T": T, "cd_samples": samples}
    before, grad_before = run_method("cd", with_scores=True, **keys)  # cd_sampling: teacher, cd_every: 1
    after, grad_after = run_method("cd", with_scores=True, **{**keys, "cd_every": 3})
    assert [p.item() for p in after] == [p.item() for p in before] and torch.equal(grad_after, grad_before)


@pytest.mark.parametrize("key,value", [("cd_sampling", "both"), ("cd_sampling", True), ("cd_every", 0),
                                       ("cd_every", 1.5)])
def test_bad_student_guided_keys_raise_config_error(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: {value!r} is invalid; allowed: "):
        build_method({"distill_method": "cd", "ITEM_ID_FIELD": "item_id", **STUDENT_CD, key: value}, 6)


def test_a_bad_cd_sampling_fails_before_the_teacher_is_trained(tiny):
    config = tiny_config_dict(tiny, distill_method="cd", cd_sampling="students")
    with pytest.raises(ConfigError, match="^cd_sampling: 'students' is invalid; allowed: teacher or student"):
        run_recbole_rd("CaserRD", "tiny", config_dict=config)
    assert not list((tiny / "saved").glob("Caser-tiny-teacher-*"))


def cd_epochs(monkeypatch, root, checkpoint, **keys):
    """Loss parts of each epoch of a 2-epoch CaserRD run with CD (seed 2020), and the trainer."""
    parts = []
    train_epoch = DistillTrainer._train_epoch
    monkeypatch.setattr(DistillTrainer, "_train_epoch", lambda self, *a, **k: parts.append(
        train_epoch(self, *a, **k)) or parts[-1])
    result = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
        root, epochs=2, seed=2020, distill_method="cd", teacher_checkpoint=checkpoint,
        cd_N=SMALL["cd_N"], cd_samples=SMALL["cd_samples"], **keys))
    return parts, result


def test_teacher_guided_training_reproduces_the_numbers_from_before_the_key(teachers, monkeypatch):
    """``(L_R, cd_alpha * L_CD)`` summed over the batches of each epoch, captured from the code
    before ``cd_sampling`` existed (the same teacher fixture, seed 2020)."""
    root, checkpoints = teachers
    parts, result = cd_epochs(monkeypatch, root, checkpoints["Caser"], cd_sampling="teacher")
    assert result["trainer"].method.ranks is None  # the student never ranks all items
    assert parts == [pytest.approx((29.492751121520996, 19.05168092250824), rel=1e-6),
                     pytest.approx((27.114089488983154, 19.08467733860016), rel=1e-6)]


def test_student_guided_training_runs_and_ranks_with_the_student(teachers, monkeypatch):
    root, checkpoints = teachers
    ranked = []
    real = dcd.student_ranks
    monkeypatch.setattr(dcd, "student_ranks", lambda *a, **k: ranked.append(len(a[1])) or real(*a, **k))
    parts, result = cd_epochs(monkeypatch, root, checkpoints["Caser"], cd_sampling="student")
    trainer, method = result["trainer"], result["trainer"].method
    assert method.sampling == "student" and method.epoch_label() == "cd, student-guided"
    assert ranked == [len(trainer.teacher_ranking.ids)] * 2  # all training instances, at the start of both epochs
    assert method.ranks.shape == trainer.teacher_ranking.ids.shape and method.ranks.dtype == torch.int32
    assert all(math.isfinite(v) for epoch in parts for v in epoch) and result["test_result"]["hit@10"] > 0
    # other draws than the teacher-guided run above (same seed): another L_CD
    assert parts[0][1] != pytest.approx(19.05168092250824, rel=1e-6)
    # the numbers of ranks among all items (before ranks among the top-N), captured then
    assert parts == [pytest.approx((29.486663103103638, 19.0562881231308), rel=1e-6),
                     pytest.approx((27.106969833374023, 19.080959916114807), rel=1e-6)]


def test_compare_trains_both_samplings_as_rows(tiny):
    """``--distill_methods=cd,cd-student``: two CD rows, each trained with its own sampling."""
    import json

    from recbole_rd.compare import compare

    rows = compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, cd_N=SMALL["cd_N"],
                                                                 cd_samples=SMALL["cd_samples"]),
                   results_dir=tiny / "results", seeds=(1,), distill_methods="cd,cd-student",
                   progress=lambda message: None)
    assert [r["model"] for r in rows] == ["Caser-T", "Caser-S", "Caser-CD", "Caser-CD-student"]
    record = json.loads((tiny / "results" / "tiny-Caser-compare-provenance.json").read_text())
    sampling = {label: record["rows"][label]["per_seed"][0]["trained_with"]["cd_sampling"]
                for label in ("Caser-CD", "Caser-CD-student")}
    assert sampling == {"Caser-CD": "teacher", "Caser-CD-student": "student"}
    assert rows[2]["map"] != rows[3]["map"]  # the sampling changed what the student learnt
