"""RecBole sequential models as distilled students: SASRecRD, GRU4RecRD, NARMRD, STAMPRD, ..."""

import pytest
import torch
import torch.nn.functional as F
from recbole.data.interaction import Interaction
from recbole.model.sequential_recommender import SASRec

from conftest import module_tiny, tiny_config_dict
from recbole_rd import run_recbole_rd
from recbole_rd.config import Config
from recbole_rd.distill.teacher import load_teacher, teacher_topk
from recbole_rd.model.registry import get_model
from recbole_rd.model.sequential_recommender.recbole_student import RecBoleStudent, student_class
from recbole_rd.quick_start import prepare
from recbole_rd.trainer import get_trainer
from recbole_rd.utils import ConfigError

SIZE_KEYS = {"SASRec": "hidden_size", "GRU4Rec": "embedding_size", "NARM": "embedding_size",
             "STAMP": "embedding_size", "LightSANs": "hidden_size", "SRGNN": "embedding_size",
             "GCSAN": "hidden_size"}
TRAINED = ["SASRec", "GRU4Rec", "NARM", "STAMP"]  # trained end to end; the others checked as models
# small networks: a teacher of width 16, students of width 8 (sequences of the tiny data: <= 20 items)
SMALL = dict(epochs=1, K=5, epsilon=10, dynamic_start_epoch=0, teacher_embedding_size=16, n_layers=1,
             n_heads=1, inner_size=16, k_interests=3, MAX_ITEM_LIST_LENGTH=20)
OWN = {"GRU4Rec": {"hidden_size": 16}, "NARM": {"hidden_size": 16}}  # widths other than the size key


def small_config(tmp_path, base=None, **overrides):
    return tiny_config_dict(tmp_path, **{**SMALL, **OWN.get(base, {}), **overrides})


def first_rows(dataset, n=16):
    return dataset.inter_feat[:n]


def test_looking_up_a_recbole_model_leaves_anomaly_detection_off(monkeypatch):
    """RecBole's sine.py switches torch's anomaly detection on for the whole process when RecBole's
    sequential models are imported: every op then records a Python stack (docs/speed.md: slower training).
    Here they are imported afresh, through the lookup."""
    import sys

    import recbole.model

    package = "recbole.model.sequential_recommender"
    monkeypatch.setattr(recbole.model, "sequential_recommender", sys.modules[package])
    for name in (package, f"{package}.sine"):
        monkeypatch.delitem(sys.modules, name)
    assert not torch.is_anomaly_enabled()
    assert get_model("SASRec") is SASRec and f"{package}.sine" in sys.modules
    assert not torch.is_anomaly_enabled()


def test_student_names_resolve_to_one_adapted_class_per_model():
    from recbole_rd.trainer import DistillTrainer

    for base, key in SIZE_KEYS.items():
        cls = get_model(f"{base}RD")
        assert cls is get_model(f"{base}RD") and cls.__name__ == f"{base}RD"
        assert issubclass(cls, RecBoleStudent) and issubclass(cls, get_model(base))
        assert cls.teacher_model == base and cls.size_key == key
        assert cls.__module__.startswith("recbole_rd.")
        assert get_trainer(cls.type, cls.__name__, cls) is DistillTrainer
    assert [m for m in SIZE_KEYS if get_model(f"{m}RD").one_pass] == ["SASRec", "GRU4Rec", "NARM", "STAMP",
                                                                       "LightSANs", "SRGNN"]


@pytest.mark.parametrize("name, why", [
    ("BERT4RecRD", "BERT4Rec cannot be a distilled student because it is trained on masked items"),
    ("FPMCRD", r"FPMC cannot .* forward takes \(user, item_seq, item_seq_len, next_item\), not \(item_seq, "),
    ("NextItNetRD", r"NextItNet cannot .* forward takes \(item_seq\), not \(item_seq, item_seq_len\)"),
    ("RepeatNetRD", "RepeatNet cannot .* mixture of repeat and explore probabilities"),
    ("FMRD", "FM cannot be a distilled student because it is a context model"),
])
def test_models_that_cannot_be_students_are_refused_before_training(tiny, name, why):
    with pytest.raises(ConfigError, match=f"^model: {name} is not available: {why}"):
        run_recbole_rd(name, "tiny", config_dict=small_config(tiny))
    assert not (tiny / "saved").exists() or not list((tiny / "saved").iterdir())


def test_a_model_whose_scores_are_not_dot_products_is_refused_at_construction(tiny):
    class BiasedSASRec(SASRec):
        def full_sort_predict(self, interaction):
            return super().full_sort_predict(interaction) + 1.0

    cls = student_class(BiasedSASRec)
    assert cls.size_key == "hidden_size"  # found through SASRec's YAML
    config, train, _, _ = prepare(cls, "tiny", config_dict=small_config(tiny))
    with pytest.raises(ConfigError, match="BiasedSASRec cannot .* full_sort_predict is not forward"):
        cls(config, train._dataset)
    assert student_class(SASRec)(config, train._dataset).n_items == train._dataset.item_num


def test_student_config_width_window_and_keys(tiny):
    sasrec = Config("SASRecRD", "tiny", config_dict=tiny_config_dict(tiny, L=5))
    assert sasrec["MAX_ITEM_LIST_LENGTH"] == 50  # L is Caser's window, not SASRec's
    assert sasrec["hidden_size"] == 32 and sasrec["teacher_embedding_size"] == 64
    assert sasrec["n_layers"] == 2 and sasrec["K"] == 10 and sasrec["weighting"] == "hybrid"
    assert sasrec["distill_method"] == "rd" and sasrec["rrd_N"] == 500  # properties/distill.yaml
    assert sasrec["train_neg_sample_args"]["distribution"] == "none"  # CE
    assert Config("CaserRD", "tiny", config_dict=tiny_config_dict(tiny))["MAX_ITEM_LIST_LENGTH"] == 5
    gru = Config("GRU4RecRD", "tiny", config_dict=tiny_config_dict(tiny, teacher_embedding_size=100))
    assert gru["embedding_size"] == 50 and gru["hidden_size"] == 128
    assert Config("GRU4RecRD", "tiny", config_dict=tiny_config_dict(tiny, embedding_size=40))["embedding_size"] == 40
    bpr = Config("NARMRD", "tiny", config_dict=tiny_config_dict(tiny, loss_type="BPR"))
    assert bpr["train_neg_sample_args"]["distribution"] == "uniform"
    with pytest.raises(ConfigError, match="^teacher_embedding_size: must be an integer >= 2"):
        Config("SASRecRD", "tiny", config_dict=tiny_config_dict(tiny, teacher_embedding_size=1))


def check_scoring_and_gradients(model, dataset, topk):
    """Scores against full_sort_predict and predict; L_R against calculate_loss; where L_D's
    gradient goes (the student in eval mode: no dropout)."""
    model.eval()
    batch = first_rows(dataset)
    items = topk[:len(batch)]
    samples = torch.arange(1, 11)
    loss, scores, frozen = model.ranking_loss_and_scores(batch, items, samples)
    with torch.no_grad():
        full = model.full_sort_predict(batch).view(len(batch), -1)
        assert torch.allclose(scores, full.gather(1, items), atol=1e-5)
        assert torch.allclose(frozen, full[:, samples], atol=1e-5) and not frozen.requires_grad
        assert torch.allclose(loss, model.calculate_loss(batch), atol=1e-6)
        for item in range(model.n_items):  # full_sort_predict equals predict item by item
            one = Interaction({**{k: batch[k] for k in batch.columns},
                               model.ITEM_ID: torch.full((len(batch),), item)})
            assert torch.allclose(model.predict(one), full[:, item], atol=1e-5)

    table = model.item_embedding.weight

    def rows_reached_by_distillation(scores):
        model.zero_grad()
        l_d = -(F.logsigmoid(scores) * torch.linspace(1, 0.2, scores.size(1))).sum(1).mean()
        l_d.backward()
        return set(table.grad.abs().sum(1).nonzero().flatten().tolist())

    teacher_items = set(items.flatten().tolist())
    # through the scores alone (the sequence state held fixed): exactly the teacher's top-K rows
    forward = model.forward
    model.forward = lambda *args: forward(*args).detach()
    try:
        assert rows_reached_by_distillation(model.ranking_loss_and_scores(batch, items)[1]) == teacher_items
    finally:
        del model.forward
    # end to end, the input items' rows too (the item table also embeds the sequence), no others
    reached = rows_reached_by_distillation(model.ranking_loss_and_scores(batch, items)[1])
    inputs = set(batch[model.ITEM_SEQ].flatten().tolist()) - {0}
    assert teacher_items <= reached <= teacher_items | inputs


@pytest.mark.parametrize("base", TRAINED)
def test_student_trains_one_epoch_after_its_teacher(tiny, base):
    result = run_recbole_rd(f"{base}RD", "tiny", config_dict=small_config(tiny, base))
    key = SIZE_KEYS[base]
    teacher, student = result["teacher"]["trainer"].model, result["trainer"].model
    assert type(teacher).__name__ == base and type(student).__name__ == f"{base}RD"
    assert getattr(teacher, key) == 16 and getattr(student, key) == 8
    assert result["parameters"] < result["teacher"]["parameters"]
    losses = result["trainer"].train_loss_dict
    assert list(losses) == [0] and torch.isfinite(torch.tensor(losses[0]))
    config, train, _, _ = prepare(f"{base}RD", "tiny", config_dict=small_config(tiny, base))
    topk = teacher_topk(teacher, train._dataset, 5, "cpu")
    check_scoring_and_gradients(student, train._dataset, topk)
    # the checkpoint names its class: found again by name, with the student's width
    again, state = load_teacher(config, train._dataset, result["checkpoint"])
    assert type(again) is type(student) and state["model"] == f"{base}RD"


@pytest.mark.parametrize("base", ["LightSANs", "SRGNN", "GCSAN"])
def test_other_adapted_models_score_and_reach_the_teacher_items(tiny, base):
    config, train, _, _ = prepare(f"{base}RD", "tiny", config_dict=small_config(tiny, base))
    model = get_model(f"{base}RD")(config, train._dataset)
    assert getattr(model, SIZE_KEYS[base]) == 8
    topk = torch.randint(1, model.n_items, (len(train._dataset), 5))
    check_scoring_and_gradients(model, train._dataset, topk)


@pytest.mark.parametrize("base", ["SASRec", "NARM"])
def test_bpr_loss_is_the_models_own_from_one_forward_pass(tiny, base):
    config, train, _, _ = prepare(f"{base}RD", "tiny", config_dict=small_config(tiny, base, loss_type="BPR"))
    model = get_model(f"{base}RD")(config, train._dataset).eval()
    batch = first_rows(train._dataset)
    batch.update(Interaction({model.NEG_ITEM_ID: torch.randint(1, model.n_items, (len(batch),))}))
    calls = []
    forward = model.forward
    model.forward = lambda *args: calls.append(1) or forward(*args)
    loss, scores, _ = model.ranking_loss_and_scores(batch, torch.randint(1, model.n_items, (len(batch), 5)))
    assert calls == [1] and scores.shape == (len(batch), 5)
    del model.forward
    assert torch.allclose(loss, model.calculate_loss(batch), atol=1e-6)


def test_sasrec_teacher_distils_into_gru4rec_student(tiny):
    sasrec = run_recbole_rd("SASRec", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, n_layers=1, n_heads=1, hidden_size=16, inner_size=16, MAX_ITEM_LIST_LENGTH=20))
    result = run_recbole_rd("GRU4RecRD", "tiny", config_dict=small_config(
        tiny, "GRU4Rec", teacher_checkpoint=sasrec["checkpoint"]))
    assert "teacher" not in result and result["model"] == "GRU4RecRD"
    assert type(result["trainer"].teacher).__name__ == "SASRec"
    assert result["trainer"].model.embedding_size == 8
    assert torch.isfinite(torch.tensor(result["trainer"].train_loss_dict[0]))


def test_compare_runs_teacher_student_and_rd_of_a_recbole_model(tiny):
    from recbole_rd.compare import compare

    rows = compare("STAMP", "tiny", config_dict=small_config(tiny), results_dir=str(tiny / "results"),
                   progress=lambda *_: None)
    assert [(r["model"], r["d"]) for r in rows] == [("STAMP-T", 16), ("STAMP-S", 8), ("STAMP-RD", 8)]
    assert rows[1]["parameters"] == rows[2]["parameters"] < rows[0]["parameters"]
    assert (tiny / "results" / "tiny-STAMP-compare.md").is_file()


METHOD_KEYS = dict(cd_N=20, cd_samples=5, rrd_N=30, rrd_K=10, rrd_L=10, dcd_N=30, dcd_K=10, dcd_L=10, dcd_rrd=True)


@pytest.fixture(scope="module")
def stamp_teacher(tmp_path_factory):
    """A folder with the tiny data and a STAMP (d=16, 1 epoch) trained on it: its checkpoint."""
    with module_tiny(tmp_path_factory, "stamp") as tmp:
        return tmp, run_recbole_rd("STAMP", "tiny", config_dict=small_config(tmp, embedding_size=16))["checkpoint"]


@pytest.mark.parametrize("method", ["cd", "rrd", "dcd"])
def test_every_distillation_method_trains_a_recbole_student(stamp_teacher, method):
    tiny, stamp = stamp_teacher
    result = run_recbole_rd("STAMPRD", "tiny", config_dict=small_config(
        tiny, distill_method=method, teacher_checkpoint=stamp, **METHOD_KEYS))
    assert result["trainer"].method.name == method and result["trainer"].model.embedding_size == 8
    assert all(torch.isfinite(torch.tensor(float(v))) for v in result["test_result"].values())
