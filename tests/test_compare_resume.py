"""--compare keeps each finished row under <stem>-rows/ and, with resume, reuses those still valid:
seeds run as separate comparisons merge into the table one comparison of all seeds gives, and a
row whose settings, code, data or teacher changed is trained again."""

import json

import pytest
import torch
from conftest import module_tiny, tiny_config_dict

from recbole_rd.compare import compare, row_store

LABELS = ["Caser-T", "Caser-S", "Caser-RD"]
METRICS = ["precision@3", "ndcg@10", "map"]


def run(tmp, results, seeds, resume=False, methods="rd", **overrides):
    """(table rows, progress messages, checkpoints written) of a comparison of Caser T / S / RD."""
    messages, before = [], set((tmp / "saved").glob("*.pth")) if (tmp / "saved").exists() else set()
    rows = compare("Caser", "tiny", config_dict=tiny_config_dict(tmp, **{"epochs": 1, "K": 5, **overrides}),
                   results_dir=tmp / results, seeds=seeds, distill_methods=methods, progress=messages.append,
                   resume=resume, argv=["run_recbole_rd.py", "--compare"])
    return rows, messages, set((tmp / "saved").glob("*.pth")) - before


def trained(messages):
    return [m.split(" training ")[1] for m in messages if " training " in m]


def reused(messages):
    return [m.split(" reusing ")[1].split(" ")[0] for m in messages if " reusing " in m]


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """Seeds 1 and 2 as two comparisons into one folder, then both seeds with resume; and both seeds
    in one fresh comparison: (folder, first run, resumed run, fresh run)."""
    with module_tiny(tmp_path_factory, "resume") as tmp:
        first = run(tmp, "results", (1,))
        run(tmp, "results", (2,))
        resumed = run(tmp, "results", (1, 2), resume=True)
        fresh = run(tmp, "fresh", (1, 2))
    return tmp, first, resumed, fresh


def test_every_finished_row_is_kept_as_a_weights_only_file(merged):
    tmp, (rows, _, checkpoints), *_ = merged
    folder = tmp / "results" / "tiny-Caser-compare-rows"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"seed{s}-{label}.pt" for s in (1, 2) for label in LABELS)
    record = torch.load(folder / "seed1-Caser-RD.pt", weights_only=True)
    assert record["described"]["seed"] == 1 and record["described"]["role"] == "distilled"
    result = record["result"]
    assert {m: result["metrics"][m] for m in METRICS} == {m: rows[2][m] for m in METRICS}
    assert result["per_user"]["map"].double().mean().item() == pytest.approx(rows[2]["map"], abs=1e-12)
    teacher = torch.load(folder / "seed1-Caser-T.pt", weights_only=True)
    assert teacher["result"]["checkpoint"] in {str(p) for p in checkpoints}
    assert record["described"]["teacher"] == row_store.file_sha256(teacher["result"]["checkpoint"])


def test_seeds_run_apart_then_resumed_give_the_table_of_one_comparison(merged):
    _, _, (rows, messages, checkpoints), (fresh, fresh_messages, _) = merged
    assert trained(messages) == [] and reused(messages) == LABELS * 2 and checkpoints == set()
    assert trained(fresh_messages) == LABELS * 2
    for ours, theirs in zip(rows, fresh):
        assert ours["model"] == theirs["model"]
        assert {m: (ours[m], ours[f"{m}_std"]) for m in METRICS} == {m: (theirs[m], theirs[f"{m}_std"]) for m in METRICS}
        assert ours["epochs_run_best"] == theirs["epochs_run_best"]


def test_the_provenance_names_each_reused_row(merged):
    tmp, *_ = merged
    record = json.loads((tmp / "results" / "tiny-Caser-compare-provenance.json").read_text())
    sources = [s["reused_from"] for s in record["rows"]["Caser-RD"]["per_seed"]]
    assert [s.rsplit("/", 1)[1] for s in sources] == ["seed1-Caser-RD.pt", "seed2-Caser-RD.pt"]
    fresh = json.loads((tmp / "fresh" / "tiny-Caser-compare-provenance.json").read_text())
    assert [s["reused_from"] for s in fresh["rows"]["Caser-RD"]["per_seed"]] == [None, None]


def test_without_resume_nothing_is_reused(merged):
    tmp, *_ = merged
    _, messages, _ = run(tmp, "results", (1,))
    assert trained(messages) == LABELS


def test_a_changed_setting_trains_the_rows_again_and_says_why(merged, caplog):
    tmp, *_ = merged
    caplog.set_level("INFO")
    _, messages, _ = run(tmp, "fresh", (1,), resume=True, learning_rate=0.01)
    assert trained(messages) == LABELS
    assert "other settings (config.learning_rate: 0.001 -> 0.01)" in caplog.text


@pytest.mark.parametrize("part", ["code", "data"])
def test_changed_code_or_data_trains_the_rows_again(merged, monkeypatch, part):
    tmp, *_ = merged
    monkeypatch.setattr(row_store, f"{part}_fingerprint", lambda *args: "0" * 64)
    _, messages, _ = run(tmp, "fresh", (2,), resume=True)
    assert trained(messages) == LABELS


@pytest.mark.parametrize("edited", ["ds.inter", "ds.test.inter", "ds.item"])
def test_the_data_fingerprint_covers_every_file_of_the_dataset(tmp_path, edited):
    """Atomic files, RecBole's benchmark splits (``benchmark_filename``) and feature files alike."""
    for name in ("ds.inter", "ds.train.inter", "ds.test.inter", "ds.item", "other.inter", "notes.txt"):
        (tmp_path / name).write_text(f"{name}\n")
    config = {"data_path": str(tmp_path), "dataset": "ds"}
    before = row_store.data_fingerprint(config)
    (tmp_path / "other.inter").write_text("another dataset's file\n")
    assert row_store.data_fingerprint(config) == before  # not this dataset's
    (tmp_path / edited).write_text("edited\n")
    assert row_store.data_fingerprint(config) != before


@pytest.fixture(scope="module")
def seed1(tmp_path_factory):
    """A folder with one comparison of seed 1 under results/. The tests below each spoil one row
    (its teacher file, its record) and resume, which trains that row again: after each of them
    every row is valid again, as the comparison left them."""
    with module_tiny(tmp_path_factory, "seed1") as tmp:
        run(tmp, "results", (1,))
    return tmp


def test_a_gone_teacher_checkpoint_retrains_the_teacher(seed1):
    tmp = seed1
    rows = tmp / "results" / "tiny-Caser-compare-rows"
    old = torch.load(rows / "seed1-Caser-T.pt", weights_only=True)["result"]["checkpoint"]
    sha = row_store.file_sha256(old)
    (tmp / "saved" / old.rsplit("/", 1)[1]).unlink()
    _, messages, _ = run(tmp, "results", (1,), resume=True)
    new = torch.load(rows / "seed1-Caser-T.pt", weights_only=True)["result"]["checkpoint"]
    assert new != old and row_store.file_sha256(new) == sha  # the same teacher again (CPU, one process)
    # so its students stay valid: a distilled row depends on the teacher's bytes, not on its file name
    assert trained(messages) == ["Caser-T"] and reused(messages) == ["Caser-S", "Caser-RD"]


def test_a_student_of_another_teacher_is_trained_again(seed1):
    tmp = seed1
    path = tmp / "results" / "tiny-Caser-compare-rows" / "seed1-Caser-RD.pt"
    record = torch.load(path, weights_only=True)
    record["described"]["teacher"] = "f" * 64  # distilled from some other teacher file
    torch.save(record, path)
    _, messages, _ = run(tmp, "results", (1,), resume=True)
    assert trained(messages) == ["Caser-RD"] and reused(messages) == ["Caser-T", "Caser-S"]


def test_a_corrupt_record_is_trained_again(seed1):
    tmp = seed1
    (tmp / "results" / "tiny-Caser-compare-rows" / "seed1-Caser-S.pt").write_bytes(b"not a torch file")
    _, messages, _ = run(tmp, "results", (1,), resume=True)
    assert trained(messages) == ["Caser-S"] and reused(messages) == ["Caser-T", "Caser-RD"]


def test_a_method_added_later_trains_only_its_row(merged):
    tmp, *_ = merged
    rows, messages, _ = run(tmp, "results", (1,), resume=True, methods="rd,rd-position")
    assert trained(messages) == ["Caser-RD-position"] and reused(messages) == LABELS
    assert [r["model"] for r in rows] == [*LABELS, "Caser-RD-position"]


def test_a_per_row_override_added_later_trains_only_that_row(merged):
    """``--Caser-RD.alpha=2`` reaches every row's config as a key, but changes the RD row only."""
    tmp, *_ = merged
    _, messages, _ = run(tmp, "results", (2,), resume=True, **{"Caser-RD.alpha": 2.0})
    assert trained(messages) == ["Caser-RD"] and reused(messages) == ["Caser-T", "Caser-S"]
