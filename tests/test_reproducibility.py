"""Same seed, same data, two fresh processes: the same checkpoints, bit for bit."""

import json
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# one run of a distilled student (its teacher trained first) in a fresh interpreter; prints the
# SHA-256 of every saved checkpoint's parameters and the test metrics
RUN = """
import hashlib, json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import tiny_config_dict, write_tiny
from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.quick_start import run_recbole_rd

folder = Path(sys.argv[1])
write_tiny(folder)
sys.argv = sys.argv[:1]
result = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
    folder, epochs=1, K=5, dynamic_start_epoch=0, seed=2024))  # rank-estimate samples drawn from epoch 0

def parameters_sha(path):
    state = load_checkpoint(path)["state_dict"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode() + state[name].cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()

print(json.dumps({{"teacher": parameters_sha(result["teacher"]["checkpoint"]),
                  "student": parameters_sha(result["checkpoint"]),
                  "teacher_test": dict(result["teacher"]["test_result"]),
                  "student_test": dict(result["test_result"])}}))
"""


def two_runs(background):
    """The script run twice, one process after the other, in new folders: the completed runs."""
    script = RUN.format(tests=str(TESTS))
    folder = background.folder("reproducibility")
    return [background.run([sys.executable, "-c", script, str(folder / name)], cwd=folder, timeout=300)
            for name in ("a", "b")]


def test_two_processes_with_the_same_seed_save_identical_checkpoints(background):
    outputs = []
    for run in background.result(two_runs):
        assert run.returncode == 0, run.stderr[-3000:]
        outputs.append(json.loads(run.stdout.strip().splitlines()[-1]))
    first, second = outputs
    assert first["teacher"] == second["teacher"] and first["student"] == second["student"]
    assert first["teacher"] != first["student"]
    assert first["teacher_test"] == second["teacher_test"] and first["student_test"] == second["student_test"]
    assert set(first["student_test"]) >= {"hit@10", "ndcg@10"}


# the two runs in fresh interpreters, started when the session starts (conftest.Background)
BACKGROUND = {"test_two_processes_with_the_same_seed_save_identical_checkpoints": [two_runs]}
