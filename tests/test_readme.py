"""Every Python snippet of the README and of docs/*.md runs exactly as printed, in a fresh folder beside
the checkpoint the quick start writes (paper protocol, as --compare trains)."""

import re
import sys
from pathlib import Path

import pytest
from conftest import tiny_config_dict

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [(page, index, snippet) for page in PAGES if page.is_file()
            for index, snippet in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"),
                                                       flags=re.S))]


QUICK_START = """
import sys
from recbole_rd.quick_start import run_recbole_rd

sys.argv = ["run_recbole_rd.py"]
run_recbole_rd("Caser", "foursquare-sample", config_dict={config!r})
"""


def quick_start(background):
    """A fresh folder holding what the quick start leaves: the generated sample and a paper-protocol
    Caser checkpoint under saved/ (trained in a fresh interpreter, at the default batch size):
    ``(folder, the quick start's completed process)``."""
    folder = background.folder("fresh")
    settings = {key: value for key, value in tiny_config_dict(folder).items()
                if key not in ("load_col", "data_path", "train_batch_size")}
    config = {**settings, "checkpoint_dir": "saved", "epochs": 1, "eval_protocol": "paper"}
    return folder, background.run([sys.executable, "-c", QUICK_START.format(config=config)], cwd=folder, timeout=600)


def snippet_job(snippet):
    """The job running ``snippet`` in a fresh interpreter in the quick start's folder: its completed process
    (None when the quick start failed). Snippets that write files write different ones."""
    def run_snippet(background):
        folder, done = background.result(quick_start)
        return background.run([sys.executable, "-c", snippet], cwd=folder, timeout=600) if done.returncode == 0 \
            else None
    return run_snippet


SNIPPET_JOBS = {snippet: snippet_job(snippet) for _, _, snippet in SNIPPETS}


@pytest.fixture(scope="module")
def quick_start_folder(background):
    folder, done = background.result(quick_start)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_the_docs_have_the_snippets_this_file_runs():
    if not README.is_file():
        pytest.skip("README.md is not installed beside the tests")
    texts = [snippet for _, _, snippet in SNIPPETS]
    assert len(texts) >= 2 and any("load_data_and_model" in snippet for snippet in texts)


@pytest.mark.parametrize("snippet", [snippet for _, _, snippet in SNIPPETS],
                         ids=[f"{page.relative_to(ROOT).as_posix()}-snippet{index}" for page, index, _ in SNIPPETS])
def test_snippet_runs_as_printed(quick_start_folder, background, snippet):
    done = background.result(SNIPPET_JOBS[snippet])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "a snippet prints what it computed"


# the quick start and the snippets run in fresh interpreters, started when the session starts
BACKGROUND = {"test_snippet_runs_as_printed": lambda params: [quick_start, SNIPPET_JOBS[params["snippet"]]]}
