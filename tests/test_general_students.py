"""RecBole general models as distilled students (BPRRD, NeuMFRD, LightGCNRD): the teacher's top-N per
user (training items left out, exact ids by hand), one method's loss on a general student by hand,
every method training each student, widths, and the models refused with their reason."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from recbole.data.interaction import Interaction
from recbole.utils import ModelType

from conftest import tiny_config_dict, write_tiny
from recbole_rd import run_recbole_rd
from recbole_rd.config import Config
from recbole_rd.data.dataset import create_dataset
from recbole_rd.distill import TeacherNeed, TeacherRanking, build_method
from recbole_rd.distill.rankings_file import rankings_frame
from recbole_rd.distill.rrd import items_outside
from recbole_rd.distill.user_teacher import training_items, user_teacher_ranking
from recbole_rd.model.general_recommender.block_scoring import SCORINGS
from recbole_rd.model.general_recommender.lightgcn import normalized_adjacency
from recbole_rd.model.general_recommender.recbole_general_student import SIZE_KEYS, RecBoleGeneralStudent
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start import prepare
from recbole_rd.utils import ConfigError

# --- a 2-user, 6-item example (internal ids: users 1, 2; items 1..6; 0 is padding) -----------
TRAINED = {1: [2, 5], 2: [1, 6]}  # each user's training items
TEACHER = [[9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0],      # padding user
           [9.0, 0.1, 0.9, 0.5, 0.3, 0.8, 0.7],      # user 1: item 0 (padding) scored highest on purpose
           [9.0, 0.6, 0.2, 0.4, 0.9, 0.1, 0.95]]     # user 2


class TableTeacher(torch.nn.Module):
    """A general teacher whose score of item i for user u is ``TEACHER[u][i]`` (full_sort_predict only)."""

    type, USER_ID, ITEM_ID = ModelType.GENERAL, "user_id", "item_id"
    n_users, n_items, device = 3, 7, torch.device("cpu")

    def full_sort_predict(self, interaction):
        return torch.tensor(TEACHER)[interaction[self.USER_ID]].flatten()


def example_dataset():
    users = [u for u, items in TRAINED.items() for _ in items]
    items = [i for user_items in TRAINED.values() for i in user_items]
    return SimpleNamespace(user_num=3, item_num=7, uid_field="user_id", iid_field="item_id",
                           inter_feat=Interaction({"user_id": torch.tensor(users), "item_id": torch.tensor(items)}))


@pytest.mark.parametrize("block", [None, (1, 2)], ids=["one block", "blocks of 1 user x 2 items"])
def test_teacher_top_n_per_user_leaves_out_each_users_training_items(block):
    ranking = user_teacher_ranking(TableTeacher(), example_dataset(), TeacherNeed(3, scores=True), "cpu",
                                   block=block)
    # user 1: items 2 (0.9) and 5 (0.8) are trained on -> 6 (0.7), 3 (0.5), 4 (0.3); item 1 (0.1) is 4th
    # user 2: items 6 (0.95) and 1 (0.6) are trained on -> 4 (0.9), 3 (0.4), 2 (0.2)
    assert ranking.ids[1:].tolist() == [[6, 3, 4], [4, 3, 2]]
    assert ranking.scores[1:].flatten().tolist() == pytest.approx([0.7, 0.5, 0.3, 0.9, 0.4, 0.2], abs=1e-3)
    assert 0 not in ranking.ids.tolist()  # never the padding item, though scored highest (padding user too)
    assert ranking.row_field == "user_id" and ranking.per_user
    batch = Interaction({"user_id": torch.tensor([2, 1, 2])})
    assert ranking.of(batch)[0].tolist() == [[4, 3, 2], [6, 3, 4], [4, 3, 2]]  # rows by user id


def test_a_top_n_longer_than_a_users_untrained_items_is_refused():
    with pytest.raises(ConfigError, match=r"user \(internal id\) 1 has 2 training items, which leaves fewer than "
                                          r"5 of the 6 items"):
        user_teacher_ranking(TableTeacher(), example_dataset(), TeacherNeed(5), "cpu")


def test_a_sequential_teacher_is_refused_for_a_general_student():
    teacher = TableTeacher()
    teacher.type = ModelType.SEQUENTIAL
    with pytest.raises(ConfigError, match="teacher is a sequential model .* must be a RecBole general model"):
        user_teacher_ranking(teacher, example_dataset(), TeacherNeed(3), "cpu")


def test_uninteresting_items_avoid_an_item_excluded_twice():
    """A NeuMF student's negative row may hold an item of the teacher's top-N: RRD then excludes it twice."""
    torch.manual_seed(0)
    drawn = items_outside(torch.tensor([[2, 2, 5], [1, 3, 4]]), n_items=7, k=4000)
    assert set(drawn[0].tolist()) == {1, 3, 4, 6} and set(drawn[1].tolist()) == {2, 5, 6}
    assert abs((drawn[0] == 6).float().mean().item() - 0.25) < 0.03  # uniform over the 4 allowed


# --- RD on a BPR student by hand: embedding_size 1, so every score is a product of two numbers ---
USER_VALUE = {"u1": 1.0, "u2": 2.0}
ITEM_VALUE = {"i1": 0.5, "i2": -1.0, "i3": 1.0, "i4": 0.0, "i5": 2.0, "i6": -0.5}


def hand_bpr_student(tmp_path):
    """BPRRD (d=1) on a dataset of the two users (u1: i2, i5; u2: i1, i6), its embeddings set by hand."""
    path = tmp_path / "dataset" / "hand" / "hand.inter"
    path.parent.mkdir(parents=True)
    rows = [("u1", "i2", 1), ("u1", "i5", 2), ("u2", "i1", 3), ("u2", "i6", 4), ("u1", "i3", 5), ("u2", "i4", 6)]
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                    + "".join(f"{u}\t{i}\t{t}\n" for u, i, t in rows))
    config = Config("BPRRD", "hand", config_dict=tiny_config_dict(tmp_path, embedding_size=1), reads_command_line=False)
    dataset = create_dataset(config)
    student = get_model("BPRRD")(config, dataset)
    with torch.no_grad():
        for token, value in USER_VALUE.items():
            student.user_embedding.weight[dataset.token2id("user_id", token)] = value
        for token, value in ITEM_VALUE.items():
            student.item_embedding.weight[dataset.token2id("item_id", token)] = value
    return student, lambda token: dataset.token2id("item_id", token), lambda token: dataset.token2id("user_id", token)


def test_rd_loss_of_a_general_student_by_hand(tmp_path):
    student, item, user = hand_bpr_student(tmp_path)
    top3 = torch.zeros(3, 3, dtype=torch.int32)
    top3[user("u1")] = torch.tensor([item("i6"), item("i3"), item("i4")], dtype=torch.int32)
    top3[user("u2")] = torch.tensor([item("i4"), item("i3"), item("i2")], dtype=torch.int32)
    teacher = TeacherRanking(top3, row_field="user_id")
    batch = Interaction({"user_id": torch.tensor([user("u1"), user("u2")]),
                         "item_id": torch.tensor([item("i2"), item("i1")]),
                         "neg_item_id": torch.tensor([item("i3"), item("i5")])})
    method = build_method({"distill_method": "rd", "alpha": 1.0, "K": 3, "lambda": 1.0, "mu": 0.1, "epsilon": 5,
                           "weighting": "position", "dynamic_start_epoch": 0, "renormalize_weights": False},
                          student.n_items, student.ranking_room)
    l_r, l_d = method.loss(student, batch, teacher)
    w = [0.665241, 0.244728, 0.090031]  # exp(-r) / (e^-1 + e^-2 + e^-3), r = 1, 2, 3
    logsig = {0: -0.693147, 1: -0.313262, -0.5: -0.974077, 2: -0.126928, -2: -2.126928}  # log sigmoid(x)
    # u1 (1.0) x i6, i3, i4 = -0.5, 1, 0;  u2 (2.0) x i4, i3, i2 = 0, 2, -2
    u1 = -(w[0] * logsig[-0.5] + w[1] * logsig[1] + w[2] * logsig[0])  # 0.787065
    u2 = -(w[0] * logsig[0] + w[1] * logsig[2] + w[2] * logsig[-2])  # 0.683663
    assert l_d.item() == pytest.approx((u1 + u2) / 2, abs=1e-5)
    # L_R is BPR's own: -log sigmoid(pos - neg); u1: -1 - 1 = -2, u2: 2 x (0.5 - 2) = -3
    assert l_r.item() == pytest.approx((2.126928 + 3.048587) / 2, abs=1e-5)
    l_d.backward()
    touched = {token for token in ITEM_VALUE if student.item_embedding.weight.grad[item(token)].abs().item() > 0}
    assert touched == {"i2", "i3", "i4", "i6"}  # the teacher's top-3 of the batch's users, nothing else
    assert student.item_embedding.weight.grad[0].abs().item() == 0


# --- training: each student with every method, widths, refusals ----------------------------------
SMALL = dict(epochs=1, teacher_embedding_size=16, K=5, epsilon=10, dynamic_start_epoch=0, cd_N=10, cd_samples=4,
             rrd_N=10, rrd_K=4, rrd_L=4, dcd_N=10, dcd_K=4, dcd_L=4, mlp_hidden_size=[16, 8], n_layers=1)
METHODS = {"rd": {}, "cd-student": {"distill_method": "cd", "cd_sampling": "student"},
           "rrd": {"distill_method": "rrd"}, "dcd-rrd": {"distill_method": "dcd", "dcd_rrd": True}}
BPR_VARIANTS = {"rd-position": {"weighting": "position"}, "rd-discrepancy": {"weighting": "discrepancy"},
                "cd": {"distill_method": "cd"}, "dcd": {"distill_method": "dcd"}}


@pytest.fixture(scope="module")
def tiny_general(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("general")
    write_tiny(tmp)
    return tmp


@pytest.fixture(scope="module")
def teachers(tiny_general):
    """Plain runs of each student (the teacher trained first, then the student with rd): model -> result."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["pytest"])
        return {model: run_recbole_rd(f"{model}RD", "tiny", config_dict=tiny_config_dict(tiny_general, **SMALL))
                for model in ("BPR", "NeuMF", "LightGCN")}


def distill(tmp, model, teacher, settings):
    result = run_recbole_rd(f"{model}RD", "tiny", config_dict=tiny_config_dict(
        tmp, **SMALL, teacher_checkpoint=teacher["teacher"]["checkpoint"], **settings))
    return result, result["trainer"]


@pytest.mark.parametrize("model", ["BPR", "NeuMF", "LightGCN"])
def test_a_plain_run_trains_the_general_teacher_then_the_student(teachers, model):
    result = teachers[model]
    assert result["teacher"]["model"] == model and result["model"] == f"{model}RD"
    assert result["parameters"] < result["teacher"]["parameters"]
    ranking = result["trainer"].teacher_ranking
    assert ranking.per_user and ranking.ids.shape == (61, 5)  # one row per user (60 and padding)
    assert all(math.isfinite(value) for value in result["test_result"].values())


def test_the_teacher_top_n_per_user_is_the_best_untrained_items(teachers, tiny_general):
    """The cached per-user top-K of the BPR teacher equals a brute-force ranking of its full sort."""
    teacher, ranking = teachers["BPR"]["trainer"].teacher, teachers["BPR"]["trainer"].teacher_ranking
    _, train, _, _ = prepare("BPRRD", "tiny", config_dict=tiny_config_dict(tiny_general, **SMALL))
    users = torch.arange(1, teacher.n_users)
    with torch.no_grad():
        scores = teacher.full_sort_predict(Interaction({"user_id": users})).view(len(users), -1)
    row, items = training_items(train._dataset).rows(users)
    scores[row, items] = -torch.inf
    scores[:, 0] = -torch.inf
    assert torch.equal(ranking.ids[1:].long(), scores.topk(5, dim=1).indices)


@pytest.mark.parametrize("model, method", [(m, name) for m in ("BPR", "NeuMF", "LightGCN") for name in METHODS]
                         + [("BPR", name) for name in BPR_VARIANTS])
def test_every_method_trains_every_general_student(teachers, tiny_general, model, method):
    settings = {**METHODS, **BPR_VARIANTS}[method]
    result, trainer = distill(tiny_general, model, teachers[model], settings)
    assert "teacher" not in result  # the given teacher was used
    assert trainer.teacher_ranking.per_user
    losses = trainer.train_loss_dict[0]
    assert math.isfinite(losses) and losses > 0
    assert all(math.isfinite(value) for value in result["test_result"].values())


def test_a_teacher_of_another_general_architecture_is_ranked_per_user(teachers, tiny_general):
    """A NeuMF teacher (pair scores through its MLP) distilled into a BPR student."""
    result, trainer = distill(tiny_general, "BPR", teachers["NeuMF"], {"distill_method": "rrd"})
    assert type(trainer.teacher).__name__ == "NeuMF" and trainer.teacher_ranking.ids.shape == (61, 10)
    assert all(math.isfinite(value) for value in result["test_result"].values())


@pytest.mark.parametrize("model", ["NGCF", "DGCF"])
def test_the_other_served_graph_models_train_as_students(tiny, model):
    result = run_recbole_rd(f"{model}RD", "tiny", config_dict=tiny_config_dict(
        tiny, **SMALL, distill_method="dcd", dcd_rrd=True))
    assert result["trainer"].teacher_ranking.per_user and result["parameters"] < result["teacher"]["parameters"]
    assert math.isfinite(result["trainer"].train_loss_dict[0])


def test_the_fixed_lightgcn_graph_is_the_normalised_adjacency():
    """RecBole 1.2.1 builds it with scipy's removed dok_matrix._update; ours: D^-1/2 A D^-1/2 of the 0/1
    graph (a repeated interaction is one edge)."""
    interactions = sp.coo_matrix((np.ones(4, dtype=np.float32), ([1, 1, 2, 1], [1, 2, 2, 1])), shape=(3, 3))
    graph = normalized_adjacency(interactions, 3, 3).to_dense()
    # users 0-2 then items 3-5: edges u1-i1, u1-i2, u2-i2; degrees u1 2, u2 1, i1 1, i2 2
    expected = torch.zeros(6, 6)
    for user, item, value in [(1, 4, 1 / math.sqrt(2)), (1, 5, 1 / 2), (2, 5, 1 / math.sqrt(2))]:
        expected[user, item] = expected[item, user] = value
    assert torch.allclose(graph, expected, atol=1e-6)


def test_student_width_is_half_the_teacher_unless_given(tiny):
    assert Config("BPRRD", "tiny", config_dict=tiny_config_dict(tiny))["embedding_size"] == 32
    neumf = Config("NeuMFRD", "tiny", config_dict=tiny_config_dict(tiny, teacher_embedding_size=40))
    assert (neumf["mf_embedding_size"], neumf["mlp_embedding_size"]) == (20, 20)
    given = Config("LightGCNRD", "tiny", config_dict=tiny_config_dict(tiny, embedding_size=24))
    assert given["embedding_size"] == 24 and given["teacher_embedding_size"] == 64
    assert set(SIZE_KEYS) == set(SCORINGS)
    for name in SCORINGS:
        cls = get_model(f"{name}RD")
        assert issubclass(cls, RecBoleGeneralStudent) and cls.teacher_model == name
        assert cls.size_key == SIZE_KEYS[name][0]


@pytest.mark.parametrize("name, why", [
    ("PopRD", "Pop cannot be a distilled student because it is not trained by gradient descent"),
    ("MultiVAERD", "MultiVAE cannot .* reconstructs each user's whole row of the interaction matrix"),
    ("SpectralCFRD", r"SpectralCF cannot .* dok_matrix._update, which scipy 1.13 removed"),
    ("FMRD", "FM cannot be a distilled student because it is a context model, neither general nor sequential"),
])
def test_general_models_that_cannot_be_students_are_refused_with_the_reason(tiny, name, why):
    with pytest.raises(ConfigError, match=f"^model: {name} is not available: {why}.*General students: BPRRD"):
        run_recbole_rd(name, "tiny", config_dict=tiny_config_dict(tiny))
    assert not (tiny / "saved").exists() or not list((tiny / "saved").iterdir())


def test_a_rankings_file_of_the_teacher_gives_the_checkpoints_top_n_per_user(teachers, tiny_general, tmp_path):
    """The BPR teacher's per-user top-N written as a rankings file (one list per user, ``rankings_frame``)
    and distilled from: the student reads the same top-N as from the checkpoint, and no teacher is trained."""
    ranking = teachers["BPR"]["trainer"].teacher_ranking
    _, train, _, _ = prepare("BPRRD", "tiny", config_dict=tiny_config_dict(tiny_general, **SMALL))
    frame = rankings_frame(train._dataset, ranking)
    assert list(frame.columns) == ["user_id", "item_id", "rank"] and len(frame) == 60 * 5
    frame.to_csv(tmp_path / "bpr-top5.csv", index=False)
    result = run_recbole_rd("BPRRD", "tiny", config_dict=tiny_config_dict(
        tiny_general, **SMALL, teacher_rankings=str(tmp_path / "bpr-top5.csv")))
    assert "teacher" not in result and result["trainer"].teacher is None
    read = result["trainer"].teacher_ranking
    assert read.per_user and torch.equal(read.ids[1:].long(), ranking.ids[1:].long())  # 0: the padding user


def test_a_capped_n_is_warned_once_at_the_students_room(tiny, caplog, monkeypatch):
    """rrd_N above what every user has left to rank is lowered to the room of the student's ranking (the
    catalogue less the heaviest user's items), said once although the keys are checked twice."""
    from recbole_rd.distill import base

    monkeypatch.setattr(base, "_WARNED", set())
    result = run_recbole_rd("BPRRD", "tiny", config_dict=tiny_config_dict(tiny, **{**SMALL, "rrd_N": 500},
                                                                          distill_method="rrd"))
    room = result["trainer"].model.ranking_room
    said = [r.getMessage() for r in caplog.records if "rrd_N: 500 is more" in r.getMessage()]
    assert said == [f"rrd_N: 500 is more than this dataset allows ({room - 1}); using {room - 1}"]
    assert result["trainer"].method.N == room - 1


@pytest.mark.parametrize("model", ["LightGCN", "NGCF"])
def test_the_repaired_recbole_models_are_configured_as_recbole_configures_them(tiny, model):
    """Our LightGCN/NGCF (RecBole's, with the graph built without scipy's removed private call) take
    RecBole's configuration, not this package's sequential defaults, and a plain run trains."""
    settings = tiny_config_dict(tiny, epochs=1, embedding_size=8)
    ours = Config(model, "tiny", config_dict=settings, reads_command_line=False)
    recboles = Config(f"recbole.{model}", "tiny", config_dict=settings, reads_command_line=False)
    assert ours.model_class is not recboles.model_class
    differing = {key for key in set(ours.final_config_dict) | set(recboles.final_config_dict)
                 if ours.final_config_dict.get(key) != recboles.final_config_dict.get(key)}
    assert differing == set()
    result = run_recbole_rd(model, "tiny", config_dict=settings, reads_command_line=False)
    assert all(math.isfinite(value) for value in result["test_result"].values())
