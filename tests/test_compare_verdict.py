"""--compare prints its verdict under the table (each distilled row against S and T, budget warnings), and
times the top-10 lists of every row side by side at the end, in interleaved rounds."""

from pathlib import Path

import pytest

from recbole_rd.compare import report, summary, timing
from recbole_rd.compare.plan import Row
from recbole_rd.compare.result import SIDE_BY_SIDE, TIMING_ROUNDS, WHEN_TRAINED, RowResult
from recbole_rd.compare.verdict import (
    budget_warnings,
    headline_metrics,
    still_improving,
    verdict,
    verdict_lines,
    verdict_report,
)


# ---- the verdict ----

@pytest.mark.parametrize("outcomes, expected", [
    ([(+0.010, 0.003), (+0.004, 0.30)], "beats S"),  # better on MAP, not worse on nDCG@10
    ([(-0.002, 0.60), (+0.010, 0.049)], "beats S"),  # better on nDCG@10, MAP level
    ([(+0.010, 0.003), (-0.004, 0.01)], "worse than S"),  # significantly worse on the other
    ([(-0.010, 0.04), (+0.001, 0.90)], "worse than S"),
    ([(+0.010, 0.06), (-0.010, 0.20)], "level with S"),  # nothing significant
    ([(+0.010, 0.05), (0.0, 1.0)], "level with S"),  # p must be below .05
    ([(+0.010, 0.01)], "beats S"),  # one metric only (no MAP / nDCG@10 measured)
])
def test_verdict_against_s(outcomes, expected):
    assert verdict(outcomes) == expected


def test_verdict_against_t_names_t():
    assert verdict([(-0.02, 0.001), (-0.01, 0.02)], "T") == "worse than T"


@pytest.mark.parametrize("metrics, valid, expected", [
    (["precision@10", "ndcg@10", "map"], "MRR@10", ["map", "ndcg@10"]),
    (["precision@10", "ndcg@10"], None, ["ndcg@10"]),
    (["precision@10", "recall@10", "mrr@10"], "MRR@10", ["mrr@10"]),  # the valid metric, whatever its case
    (["recall@5", "hit@5"], "MRR@10", ["recall@5"]),  # else the first there is
])
def test_headline_metrics_are_map_and_ndcg_else_what_is_there(metrics, valid, expected):
    assert headline_metrics(metrics, valid) == expected


def paired(model, against, metric, mean, mean_against, p, users=60):
    label = {"S": "Caser-S", "T": "Caser-T"}[against]
    return {"comparison": f"{model.split('-', 1)[1]} vs {against}", "model": model, "against": label,
            "metric": metric, "mean": mean, "mean_against": mean_against, "mean_difference": mean - mean_against,
            "p_value": p, "users": users}


HAND_MADE = [
    paired("Caser-RD", "S", "map", 0.06, 0.05, 0.003), paired("Caser-RD", "S", "ndcg@10", 0.09, 0.085, 0.2),
    paired("Caser-RD", "T", "map", 0.06, 0.07, 0.0001), paired("Caser-RD", "T", "ndcg@10", 0.09, 0.1, 0.01),
    paired("Caser-RD", "S", "precision@10", 0.01, 0.03, 0.0001),  # not a headline metric: no say
    paired("Caser-CD", "S", "map", 0.05, 0.05, 1.0), paired("Caser-CD", "S", "ndcg@10", 0.08, 0.085, 0.03),
    paired("Caser-CD", "T", "map", 0.05, 0.07, 0.0001), paired("Caser-CD", "T", "ndcg@10", 0.08, 0.1, 0.001),
]


def test_one_line_per_distilled_row_with_means_differences_and_p_values():
    lines = verdict_lines(HAND_MADE, ["map", "ndcg@10"])
    assert lines == [
        "Caser-RD: beats S, worse than T | map 0.0600 vs S 0.0500 (+0.0100, p=0.003), vs T 0.0700 (-0.0100, "
        "p<0.001) | ndcg@10 0.0900 vs S 0.0850 (+0.0050, p=0.2), vs T 0.1000 (-0.0100, p=0.01)",
        "Caser-CD: worse than S, worse than T | map 0.0500 vs S 0.0500 (+0.0000, p=1), vs T 0.0700 (-0.0200, "
        "p<0.001) | ndcg@10 0.0800 vs S 0.0850 (-0.0050, p=0.03), vs T 0.1000 (-0.0200, p=0.001)"]


def test_the_report_heads_the_lines_and_says_when_there_are_no_tests():
    report = verdict_report(HAND_MADE, ["precision@10", "ndcg@10", "map"], "MRR@10", seeds=3)
    assert report[0] == ("Verdict (paired t-tests over 60 test users, each user's value averaged over the 3 "
                         "seeds; significant: p < 0.05):")
    assert [line.split(":")[0] for line in report[1:]] == ["Caser-RD", "Caser-CD"]
    assert verdict_report([], ["map"]) == [
        "Verdict: no paired tests (no top-k metric gives per-user values; add one to metrics, such as NDCG)"]


# ---- budget warnings ----

def seed_result(epochs_run, best_epoch, epochs=10, eval_step=1):
    return RowResult(epochs_run=epochs_run, best_epoch=best_epoch,
                     trained_with={"epochs": epochs, "eval_step": eval_step})


@pytest.mark.parametrize("result, improving", [
    (seed_result(10, 9), True),  # best at the last of the 10 epochs of its budget
    (seed_result(10, 6), False),
    (seed_result(4, 0), False),  # stopped early: its best is behind it
    (seed_result(1, 0), False),  # one pass under a budget of 10 (a memory-based model such as Pop)
    (seed_result(10, 9, eval_step=2), True),  # validated after epochs 1, 3, ..., 9 (0-based)
    (seed_result(11, 9, epochs=11, eval_step=2), True),  # epoch 10 ran but was not validated
    (seed_result(11, 7, epochs=11, eval_step=2), False),
    (seed_result(10, 9, eval_step=0), False),  # never validated: nothing known
    (seed_result(None, 30), False),  # a teacher given by its checkpoint: not trained here
])
def test_still_improving_is_a_best_epoch_at_the_last_validated_epoch_of_the_whole_budget(result, improving):
    assert still_improving(result) is improving


def table_row(model, role, map_value, epochs_run=10):
    return {"model": model, "role": role, "map": map_value, "epochs_run": epochs_run}


def test_a_baseline_beating_the_teacher_is_warned():
    table = [table_row("Caser-T", "teacher", 0.05), table_row("Caser-S", "student", 0.06),
             table_row("Pop", "baseline", 0.051), table_row("SASRec", "baseline", 0.04)]
    warnings = budget_warnings(table, [], "map")
    assert warnings == ["warning: baseline Pop beats the teacher Caser-T on map (0.0510 vs 0.0500): the teacher "
                        "is probably undertrained; raise --epochs (or --Caser-T.epochs)"]
    table[0]["epochs_run"] = None  # given by its checkpoint
    assert "the given teacher checkpoint is probably undertrained" in budget_warnings(table, [], "map")[0]
    table[2]["map"] = 0.05
    assert budget_warnings(table, [], "map") == []  # level is not beating


def test_a_row_whose_best_epoch_is_its_last_is_warned_per_seed():
    table = [table_row("Caser-T", "teacher", 0.07), table_row("Caser-S", "student", 0.06),
             table_row("Caser-RD", "distilled", 0.06), table_row("Pop", "baseline", 0.03)]
    per_seed = [(2020, {"Caser-T": seed_result(10, 4), "Caser-S": seed_result(10, 9), "Caser-RD": seed_result(10, 9),
                        "Pop": seed_result(1, 0, epochs=1)}),
                (2021, {"Caser-T": seed_result(10, 3), "Caser-S": seed_result(6, 2), "Caser-RD": seed_result(10, 9),
                        "Pop": seed_result(1, 0, epochs=1)})]
    assert budget_warnings(table, per_seed, "map", one_pass={"Pop"}) == [
        "warning: Caser-S's best epoch is its last (seed 2020: run/best 10/9): it was still improving; raise "
        "--epochs (or --Caser-S.epochs)",
        "warning: Caser-RD's best epoch is its last (seed 2020: run/best 10/9, seed 2021: run/best 10/9): it was "
        "still improving; raise --epochs (or --Caser-RD.epochs)"]


# ---- side-by-side timing ----

class FakeModel:
    pass


def test_a_row_whose_checkpoint_is_gone_keeps_its_recorded_time_and_is_marked(tmp_path, monkeypatch):
    kept = tmp_path / "kept.pth"
    kept.write_bytes(b"")
    rows = [Row("Caser-T", "teacher", None, "teacher"), Row("Caser-S", "student", None, "student")]
    known = dict(d=1, parameters=1, batch_size=1, trained_with={}, epochs_run=1, best_epoch=0, metrics={"map": 0.1})
    results = {"Caser-T": RowResult(checkpoint=str(kept), topk_seconds=9.0, **known),
               "Caser-S": RowResult(checkpoint=str(tmp_path / "gone.pth"), topk_seconds=7.0, **known)}
    monkeypatch.setattr(timing, "load_teacher", lambda config, dataset, path: (FakeModel(), {}))
    monkeypatch.setattr(timing, "time_topk_lists", lambda model, test, repeats: 0.5)
    timing.time_side_by_side(rows, results, train=type("Train", (), {"_dataset": None})(), test=None)
    assert results["Caser-T"] == RowResult(checkpoint=str(kept), topk_seconds=0.5, time_measured=SIDE_BY_SIDE,
                                           **known)
    assert results["Caser-S"].topk_seconds == 7.0 and results["Caser-S"].time_measured == WHEN_TRAINED
    table = summary.summarise([results], rows)
    assert [row["time_measured"] for row in table] == [SIDE_BY_SIDE, WHEN_TRAINED]
    shown = report.format_table(table, report.display_columns(["map"]))
    assert "| 0.500 | 1.00 |" in shown and "| 7.000 † | 14.00 |" in shown
    assert "† measured alone when the row was trained (its checkpoint is gone)" in report.timing_note(table)


# ---- one small comparison, end to end ----

@pytest.fixture(scope="module")
def printed(tiny_compare):
    """A tiny compare (one seed, T / S / RD / Pop, one epoch) printing to the console as the command line
    does, with the top-10 timing and the training recorded in the order they happen:
    (table, console output, events, results folder)."""
    table, output, _, events, results = tiny_compare
    return table, output, events, results


def test_the_console_shows_the_verdict_under_the_table(printed):
    table, output, _, _ = printed
    lines = output.splitlines()
    last_table_line = max(i for i, line in enumerate(lines) if line.startswith("| Pop |"))
    after = lines[last_table_line + 1:]
    assert any(line.startswith("Verdict (paired t-tests over 60 test users; significant: p < 0.05):")
               for line in after)
    verdicts = [line for line in after if line.startswith("Caser-RD: ")]
    assert len(verdicts) == 1 and not any(line.startswith("Caser-S: ") for line in after)
    line = verdicts[0]
    assert line.split(" | ")[0].split(": ")[1].split(", ")[0] in ("beats S", "level with S", "worse than S")
    by_label = {row["model"]: row for row in table}
    assert f"| map {by_label['Caser-RD']['map']:.4f} vs S {by_label['Caser-S']['map']:.4f} (" in line
    assert f"| ndcg@10 {by_label['Caser-RD']['ndcg@10']:.4f} vs S " in line and ", vs T " in line and "p" in line
    # one epoch of a budget of one: every trained row stopped at its best; Pop makes one pass whatever the budget
    assert "warning: Caser-T's best epoch is its last (seed 1: run/best 1/0)" in output
    assert "warning: Pop's" not in output


def test_every_row_is_timed_at_the_end_in_interleaved_rounds_from_its_checkpoint(printed):
    table, output, events, results = printed
    rows = len(table)
    assert rows == 4
    ends = events[-TIMING_ROUNDS * rows:]
    assert all(kind == "time" for kind, _, _ in ends)  # after every row's training
    models = [model for _, model, _ in ends]
    first = models[:rows]
    assert [type(m).__name__ for m in first] == ["Caser", "Caser", "CaserRD", "Pop"]  # T, S, RD, Pop
    assert len({id(m) for m in first}) == rows
    assert models == first * TIMING_ROUNDS  # T, S, RD, Pop, T, S, RD, Pop, ...
    assert not any(m.training or any(p.requires_grad for p in m.parameters()) for m in first)  # loaded, frozen
    for index, row in enumerate(table):
        assert row["top10_lists_s"] == min(value for _, _, value in ends[index::rows])
        assert row["time_measured"] == SIDE_BY_SIDE
    assert table[2]["time_vs_teacher"] == table[2]["top10_lists_s"] / table[0]["top10_lists_s"]
    note = "measured side by side at the end of each seed's training, in this one process"
    assert note in output and note in Path(results, "tiny-Caser-compare.md").read_text().split("| model |")[0]
