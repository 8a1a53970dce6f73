"""The command line reports this package's errors as one `error:` line (exit 2); bugs keep their traceback."""

import csv
import json
import sys

import pytest
import yaml
from conftest import tiny_config_dict

from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.quick_start import quick_start, refusals
from recbole_rd.quick_start.cli import main
from recbole_rd.utils import ConfigError


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # log/ goes there


def cli(tiny, *flags, **overrides):
    """``main`` on the tiny data, as ``python run_recbole_rd.py <flags>`` (RecBole's Config reads sys.argv)."""
    config_file = tiny / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(tiny_config_dict(tiny, **{"epochs": 1, **overrides})))
    argv = ["--dataset=tiny", f"--config_files={config_file}", *flags]
    sys.argv = ["run_recbole_rd.py", *argv]
    main(argv)


def error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("flags, message", [
    (["--model=CaserRD", "--alpha=-1"], "error: alpha: -1 is invalid; allowed: a finite number >= 0"),
    (["--model=NoSuchModel"], "error: model: unknown model 'NoSuchModel'"),
    (["--model=Caser", "--compare", "--nproc=2"], "error: --compare runs in one process"),
    (["--model=Caser", "--compare", "--seed=7", "--seeds=1,2"], "error: --seed with --compare would override every"),
    # RecBole's own refusal, raised as a ValueError inside RecBole's Config
    (["--model=Caser", "--topk=[0]"], "error: invalid configuration: topk must be a positive integer"),
])
def test_our_errors_are_one_line_and_exit_status_2(tiny, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        cli(tiny, *flags)
    assert stop.value.code == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_missing_config_file_is_a_config_error(tiny, capsys):
    argv = ["--model=Caser", "--dataset=tiny", f"--config_files={tiny / 'missing.yaml'}"]
    sys.argv = ["run_recbole_rd.py", *argv]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    (line,) = error_lines(capsys)
    assert line.startswith("error: invalid configuration:") and "missing.yaml" in line


@pytest.mark.parametrize("bug", [ZeroDivisionError("division by zero"), ValueError("a bug of ours")])
def test_a_bug_keeps_its_traceback(tiny, capsys, monkeypatch, bug):
    def broken(config):
        raise bug

    monkeypatch.setattr(quick_start, "create_dataset", broken)
    with pytest.raises(type(bug)) as raised:
        cli(tiny, "--model=Caser")
    assert raised.value is bug
    assert error_lines(capsys) == []


def test_recbole_refusals_become_config_errors_only_when_raised_inside_recbole():
    with pytest.raises(ConfigError, match="invalid configuration: eval_args:.*should be a dict"):
        refusals.build_config("Caser", "tiny", config_dict={"eval_args": 3})
    with pytest.raises(ZeroDivisionError):  # raised by us, not by RecBole: left alone
        with refusals.refusals_as_config_errors("anything"):
            1 / 0
    with pytest.raises(ValueError) as raised:
        with refusals.refusals_as_config_errors("anything"):
            raise ValueError("our own bug")
    assert not isinstance(raised.value, ConfigError)


def test_a_run_ends_with_its_summary_on_stdout_when_info_is_not_logged(tiny, capsys):
    cli(tiny, "--model=Caser")  # state: WARNING in the tiny config
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Caser done: best epoch 0, test result: {'recall@10': ")
    assert f"checkpoint {tiny / 'saved' / 'Caser-tiny-d100-'}" in out[0]


def test_an_unknown_distill_method_is_refused_before_training(tiny, capsys):
    with pytest.raises(SystemExit) as stop:
        cli(tiny, "--model=Caser", "--compare", "--distill_methods=rd,bogus")
    assert stop.value.code == 2
    (line,) = error_lines(capsys)
    assert line.startswith("error: distill_methods: 'bogus' given; allowed: cd, dcd, rd, rrd, ")
    assert not (tiny / "saved").exists() and not (tiny / "results").exists()


def test_compare_flags_reach_compare(tiny, monkeypatch):
    import recbole_rd.compare.run as module
    from recbole_rd.compare.plan import CompareSpec, parse_distill_methods

    calls = []
    monkeypatch.setattr(module, "run_compare", lambda *args, **kwargs: calls.append((args, kwargs)))
    cli(tiny, "--compare", "--distill_methods=rd,rd-position", "--teacher_model=SASRec", "--baselines=Pop,GRU4Rec",
        "--seeds=1,2", "--results_dir=out", "--resume", "--epochs=3", "--Caser-S.epochs=1")  # --model: CaserRD
    (((spec,), kwargs),) = calls
    assert kwargs == {} and spec.argv == sys.argv  # recorded as given
    assert spec == CompareSpec("Caser", "tiny", [str(tiny / "tiny.yaml")],
                               {"eval_protocol": "paper", "teacher_model": "SASRec", "epochs": 3, "Caser-S.epochs": 1},
                               ("Pop", "GRU4Rec"), (1, 2), parse_distill_methods("rd,rd-position"), "SASRec",
                               None, "out", True, sys.argv)


def test_recbole_never_sees_the_compare_flags():
    from recbole_rd.quick_start.cli import recbole_argv

    assert recbole_argv(["--compare", "--model=Caser", "--seeds", "1,2", "--baselines=Pop", "--epochs=3",
                         "--results_dir", "out", "--resume", "--distill_methods=rd", "--teacher_model=SASRec"]) == [
        "--model=Caser", "--epochs=3", "--teacher_model=SASRec"]


def test_compare_from_the_command_line_with_a_per_row_setting(tiny, caplog):
    cli(tiny, "--model=Caser", "--compare", "--distill_methods=rd-position", "--Caser-S.epochs=1",
        f"--results_dir={tiny / 'results'}", epochs=2, stopping_step=10, K=5)
    assert "will not be used in RecBole" not in caplog.text  # RecBole's warning about --compare
    with open(tiny / "results" / "tiny-Caser-compare.csv", newline="") as f:
        rows = {row["model"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["Caser-T", "Caser-S", "Caser-RD-position"]
    assert [float(rows[label]["epochs_run"]) for label in rows] == [2, 1, 2]  # S overridden, from the argv
    provenance = json.loads((tiny / "results" / "tiny-Caser-compare-provenance.json").read_text())
    assert provenance["rows"]["Caser-RD-position"]["per_seed"][0]["trained_with"]["weighting"] == "position"
    assert provenance["argv"][1:] == sys.argv[1:] and "--compare" in provenance["argv"]
    assert "distill_methods" not in provenance["config"]  # not a RecBole key


def test_recbole_caser_trains_recboles_model(tiny):
    result = quick_start.run_recbole_rd("recbole.Caser", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, MAX_ITEM_LIST_LENGTH=5))
    assert type(result["trainer"].model).__module__.startswith("recbole.model.")
    assert load_checkpoint(result["checkpoint"])["model"] == "Caser"
    assert result["d"] == 64  # RecBole's Caser: embedding_size 64 (ours: 100)


def test_a_config_without_model_is_a_config_error(tiny):
    with pytest.raises(ConfigError, match="model must be given: --model=NAME"):
        refusals.build_config(None, "tiny", config_dict=tiny_config_dict(tiny))


def test_a_taken_ddp_port_is_a_config_error_naming_port(tiny):
    import socket

    import torch.distributed as dist

    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            with pytest.raises(ConfigError, match=rf"port: .* localhost:{port} .*EADDRINUSE.*--port="):
                refusals.build_config("Caser", "tiny", config_dict=tiny_config_dict(
                    tiny, local_rank=0, nproc=1, world_size=1, port=port))
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
