"""Imports point downwards, as in RecBole: the ground (errors, utils, key lists, value checks) imports
nothing above it; data never imports the evaluator (the evaluator reads data's evaluation periods,
as RecBole's evaluator reads its dataloaders); data and evaluation never import models or trainers; the
top (the entry points in quick_start, and the comparison in compare, which uses quick_start's training)
is imported by nothing below it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recbole_rd"
TOP = ("recbole_rd.quick_start", "recbole_rd.compare", "recbole_rd.export")  # the comparison may import quick_start, not the reverse
FORBIDDEN = {
    # the paper split builds its evaluation periods (data's PeriodEvalData), which the evaluator reads,
    # as RecBole's data building hands eval dataloaders to its evaluator; never the other way round
    "data": ("recbole_rd.model", "recbole_rd.trainer", "recbole_rd.distill", "recbole_rd.evaluator", *TOP),
    "evaluator": ("recbole_rd.model", "recbole_rd.trainer", "recbole_rd.distill", *TOP),
    "sparse.py": ("recbole_rd.model", "recbole_rd.trainer", "recbole_rd.distill", *TOP,
                  "recbole_rd.data", "recbole_rd.evaluator"),
    "model": TOP,
    "trainer": TOP,
    "distill": TOP,
    # the ground
    "utils.py": ("recbole_rd.trainer", *TOP, "recbole_rd.distill", "recbole_rd.data",
                 "recbole_rd.model", "recbole_rd.evaluator", "recbole_rd.config"),
    "errors.py": ("recbole_rd",),
    "key_lists.py": ("recbole_rd",),
    "config_values.py": ("recbole_rd.utils", "recbole_rd.model", "recbole_rd.config", "recbole_rd.data",
                         "recbole_rd.trainer", *TOP),
}


def imported_modules(path):
    """Every module an ``import`` or ``from ... import`` of ``path`` names, at any depth."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_lower_layers_never_import_upper_ones(part):
    files = sorted((PACKAGE / part).rglob("*.py")) if (PACKAGE / part).is_dir() else [PACKAGE / part]
    assert files
    wrong = [(f.name, name) for f in files for name in imported_modules(f)
             if name.startswith(FORBIDDEN[part])]
    assert wrong == []
