"""Every Python snippet of the README and of docs/*.md runs exactly as printed, in a fresh folder beside
the checkpoint the quick start writes (paper protocol, as --compare trains)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_config_dict

from recbole_rd.quick_start import run_recbole_rd

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [(page, index, snippet) for page in PAGES if page.is_file()
            for index, snippet in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"),
                                                       flags=re.S))]


@pytest.fixture(scope="module")
def quick_start_folder(tmp_path_factory):
    """A fresh folder holding what the quick start leaves: the generated sample and a paper-protocol
    Caser checkpoint under saved/."""
    folder = tmp_path_factory.mktemp("fresh")
    settings = {key: value for key, value in tiny_config_dict(folder).items() if key not in ("load_col", "data_path")}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr("sys.argv", ["run_recbole_rd.py"])
        run_recbole_rd("Caser", "foursquare-sample", config_dict={
            **settings, "checkpoint_dir": "saved", "epochs": 1, "eval_protocol": "paper"})
    return folder


def test_the_docs_have_the_snippets_this_file_runs():
    if not README.is_file():
        pytest.skip("README.md is not installed beside the tests")
    texts = [snippet for _, _, snippet in SNIPPETS]
    assert len(texts) >= 2 and any("load_data_and_model" in snippet for snippet in texts)


@pytest.mark.parametrize("snippet", [snippet for _, _, snippet in SNIPPETS],
                         ids=[f"{page.relative_to(ROOT).as_posix()}-snippet{index}" for page, index, _ in SNIPPETS])
def test_snippet_runs_as_printed(quick_start_folder, snippet):
    done = subprocess.run([sys.executable, "-c", snippet], cwd=quick_start_folder, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "a snippet prints what it computed"
