"""The warnings RecBole 1.2.1 and its dependencies raise on every run about their own code: silenced
by the entry points. Imports nothing heavy (the command line calls it before torch loads)."""

import warnings

# Warnings that RecBole 1.2.1 and its dependencies raise on every run, about their own code (not ours):
# (category, module whose code triggers it, message). This package's warnings are never matched.
DEPENDENCY_WARNINGS = (
    (FutureWarning, r"recbole\.", ""),  # pandas and torch deprecations (fillna(inplace=True), GradScaler)
    (UserWarning, r"ray\.", "pkg_resources is deprecated"),  # ray, imported by recbole.quick_start
)

def quiet_dependency_warnings():
    """Silence :data:`DEPENDENCY_WARNINGS` (by category and module), nothing else. Called by the
    entry points: the command line, :func:`prepare`, :func:`run_recbole_rd`."""
    for category, module, message in DEPENDENCY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
