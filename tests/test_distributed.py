"""DDP mode for real: two CPU processes with gloo on loopback."""

import os
import socket
import sys

import pytest
import torch
import torch.multiprocessing as mp
import yaml
from conftest import tiny_config_dict, write_tiny

from recbole_rd import distributed
from recbole_rd.config import Config
from recbole_rd.distill.teacher import load_teacher, teacher_topk
from recbole_rd.quick_start import prepare, run, run_recbole_rd
from recbole_rd.quick_start.distributed_run import run_rank

NPROC = 2


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # log/ goes there (the processes inherit it)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_config(tmp_path, **overrides):
    return tiny_config_dict(tmp_path, epochs=1, eval_protocol="paper", nproc=NPROC, world_size=NPROC,
                            ip="127.0.0.1", port=free_port(), offset=0, **overrides)


def _train_rank(local_rank, config_dict, out_dir):
    result = run_rank(local_rank, "CaserRD", "tiny", None, config_dict, True)
    trainer = result["trainer"]
    torch.save({"state": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
                "test": dict(result["test_result"]), "rank": trainer.config["local_rank"],
                "ddp": hasattr(trainer, "distributed_model") and not trainer.config["single_spec"]},
               f"{out_dir}/rank{local_rank}.pt")


@pytest.fixture
def teacher(tiny):
    """A Caser teacher trained for one epoch in this process, on the students' (the paper's) split."""
    return run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, embedding_size=16,
                                                                       eval_protocol="paper"))


def test_two_gloo_processes_train_caserrd_and_agree(tiny, teacher, tmp_path):
    config_dict = ddp_config(tiny, teacher_checkpoint=teacher["checkpoint"])
    mp.spawn(_train_rank, args=(config_dict, str(tmp_path)), nprocs=NPROC)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(NPROC)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["ddp"] for r in ranks)
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), f"{name} differs between ranks"
    assert ranks[0]["test"] == ranks[1]["test"]

    # the sharded top-K pass gathered exactly what one process computes
    config, train, _, _ = prepare("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper"))
    single_topk = teacher_topk(load_teacher(config, train._dataset, teacher["checkpoint"])[0],
                               train._dataset, config["K"], "cpu")
    (cache,) = (tiny / "saved").glob("teacher-topk-*.pt")
    assert torch.equal(torch.load(cache, weights_only=True)["topk"], single_topk)

    # the same epoch in one process (same teacher, same seed) lands close by
    alone = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, eval_protocol="paper", teacher_checkpoint=teacher["checkpoint"]))
    for metric, value in alone["test_result"].items():
        assert abs(ranks[0]["test"][metric] - value) < 0.05, metric


# RecBole creates log/ and saved/ by "if not exists: makedirs", so two processes starting together in an
# empty folder can both see it missing (FileExistsError in 1 run of 3 on ml-100k). This makedirs waits
# before creating, which widens that window from microseconds to 0.3 s: the race then happens every time.
SLOW_MAKEDIRS = """import os, time
_makedirs = os.makedirs
def _slow_makedirs(name, mode=0o777, exist_ok=False):
    time.sleep(0.3)
    return _makedirs(name, mode, exist_ok)
os.makedirs = _slow_makedirs
"""


def ddp_command(background, folder, data, port, *flags, **overrides):
    """``python -m recbole_rd.quick_start.cli`` with 2 gloo processes on the tiny data, run in
    ``folder`` (created empty; saved/ and log/ go there) with a slow ``os.makedirs``."""
    folder.mkdir()
    config = tiny_config_dict(data, epochs=1, checkpoint_dir="saved", **overrides)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    (folder / "slow").mkdir()
    (folder / "slow" / "sitecustomize.py").write_text(SLOW_MAKEDIRS)
    env = {**background.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder / "slow"),
                                                                        background.env.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "recbole_rd.quick_start.cli", "--dataset=tiny", "--config_files=tiny.yaml",
               f"--nproc={NPROC}", "--ip=127.0.0.1", f"--port={port}", *flags]
    return background.run(command, cwd=folder, env=env, timeout=300)


def first_ddp_runs(background):
    """Three first DDP runs of Caser, each in a new empty folder: ``[(folder, completed process)]``."""
    data = background.folder("ddp-data")
    write_tiny(data)
    runs = []
    for attempt in range(3):
        folder = background.folder(f"new{attempt}") / "new"
        runs.append((folder, ddp_command(background, folder, data, free_port(), "--model=Caser")))
    return runs


def ddp_bad_setting(background):
    """A DDP run of CaserRD with ``--alpha=-1``: the completed process."""
    data = background.folder("ddp-bad")
    write_tiny(data)
    return ddp_command(background, data / "bad", data, free_port(), "--model=CaserRD", "--alpha=-1")


def test_first_ddp_runs_in_empty_folders_all_succeed(background):
    for folder, done in background.result(first_ddp_runs):
        assert done.returncode == 0, done.stderr[-3000:]
        assert "FileExistsError" not in done.stderr
        (checkpoint,) = (folder / "saved").glob("Caser-tiny-d100-*.pth")
        assert torch.load(checkpoint, weights_only=True)["model"] == "Caser"
        assert len(list((folder / "log" / "Caser").glob("*.log"))) == NPROC  # one log file per process
        assert done.stdout.startswith("Caser done: best epoch 0, test result: {'recall@10': ")


def test_a_bad_setting_in_ddp_is_one_error_line_with_status_2(background):
    """run() raises DistributedRunError (a RecBoleRDError), which the command line prints."""
    done = background.result(ddp_bad_setting)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: process ")
    assert errors[0].split(": ", 2)[2] == "alpha: -1 is invalid; allowed: a finite number >= 0"
    assert "Traceback" not in done.stderr


def _bug_in_rank_1(local_rank, *args):
    if local_rank == 1:
        return 1 / 0


def test_a_bug_in_a_ddp_process_keeps_its_traceback(tiny, monkeypatch):
    real_spawn = mp.spawn
    monkeypatch.setattr(mp, "spawn", lambda fn, args, nprocs: real_spawn(_bug_in_rank_1, args=args, nprocs=nprocs))
    with pytest.raises(mp.ProcessRaisedException) as raised:
        run("Caser", "tiny", config_dict=tiny_config_dict(tiny), nproc=NPROC, ip="127.0.0.1", port=free_port())
    assert raised.value.error_index == 1
    assert "Traceback" in str(raised.value) and "ZeroDivisionError: division by zero" in str(raised.value)


def test_backend_follows_the_device_and_refuses_nccl_on_cpu():
    assert distributed.choose_backend("auto", cuda=False) == "gloo"
    assert distributed.choose_backend(None, cuda=True) == "nccl"
    assert distributed.choose_backend("gloo", cuda=True) == "gloo"
    with pytest.raises(ValueError, match="dist_backend: nccl needs CUDA"):
        distributed.choose_backend("nccl", cuda=False)
    with pytest.raises(ValueError, match="allowed: auto, gloo, nccl"):
        distributed.choose_backend("mpi", cuda=False)


def test_single_process_helpers_are_identities():
    assert not distributed.is_distributed()
    assert distributed.shard(7) == (0, 7)
    part = torch.arange(6).view(3, 2)
    assert distributed.gather_shards(part, 3) is part
    assert distributed.broadcast_object("x") == "x"
    assert distributed.all_ranks_agree(True) and not distributed.all_ranks_agree(False)


def test_config_without_local_rank_stays_single_process(tiny):
    config = Config("CaserRD", "tiny", config_dict=tiny_config_dict(tiny))
    assert config["single_spec"] and config["device"].type == "cpu" and config["dist_backend"] == "auto"


def test_more_processes_than_gpus_is_refused_before_joining(tiny, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # restored after the test
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match="gpu_id: '0' lists fewer GPUs than nproc=2"):
        Config("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, gpu_id="0", local_rank=0, nproc=2, world_size=2))
    assert not distributed.is_distributed()


# the runs in fresh interpreters, started when the session starts (conftest.Background)
BACKGROUND = {"test_first_ddp_runs_in_empty_folders_all_succeed": [first_ddp_runs],
              "test_a_bad_setting_in_ddp_is_one_error_line_with_status_2": [ddp_bad_setting]}
