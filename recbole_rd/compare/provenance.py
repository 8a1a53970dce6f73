"""How a result was made: command line, configuration, package versions, git commit, device, seeds.

Written beside every results table (``<stem>-provenance.json``) so that the table can be reproduced.
"""

import enum
import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from recbole_rd.utils import atomic_write

PACKAGES = ("recbole-rd", "recbole", "torch", "numpy", "scipy", "pandas")


def plain_data(value, keep_tensors=False):
    """``value`` as JSON-ready data: containers recursively, enums by name, str subclasses (torch's
    TorchVersion) as str, anything else as text; with ``keep_tensors`` tensors stay tensors (on the
    CPU), for a weights-only torch file."""
    if keep_tensors:
        import torch  # imported on first use: the results' pages are written without it

        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain_data(v, keep_tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain_data(v, keep_tensors) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    return str(value)


def plain_config(config):
    """Every key of a RecBole ``Config`` as plain data."""
    return plain_data(dict(config.final_config_dict))


def package_versions():
    """Installed versions of the packages a result depends on (None when not installed)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    versions["torch"] = torch.__version__  # the build actually imported (e.g. 2.13.0+cpu)
    versions["python"] = platform.python_version()
    return versions


def _git(folder, *args):
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(folders=None):
    """``{'commit', 'modified', 'folder'}`` of the first of ``folders`` (default: this package's
    folder, then the working directory) inside a git work tree; None when none is."""
    here = Path(__file__).resolve().parent
    for folder in folders or (here, Path.cwd()):
        commit = _git(folder, "rev-parse", "HEAD")
        if commit:
            changes = _git(folder, "status", "--porcelain", "--untracked-files=no")
            return {"commit": commit, "modified": bool(changes), "folder": str(folder)}
    return None


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_description(device=None):
    """Where the computation ran: CPU model and cores, torch threads, GPU name when ``device`` is CUDA."""
    import torch

    described = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                 "platform": platform.platform(), "device": str(device) if device is not None else "cpu"}
    if device is not None and torch.device(device).type == "cuda":
        described["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return described


def provenance(config=None, seeds=(), argv=None, **extra):
    """A JSON-ready record of how a result was made; ``extra`` keys are added as plain data."""
    argv = list(sys.argv if argv is None else argv)
    record = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command_line": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *argv]),
        "argv": argv,
        "cwd": os.getcwd(),
        "versions": package_versions(),
        "git": git_state(),
        "device": device_description(config["device"] if config is not None else None),
        "seeds": list(seeds),
    }
    if config is not None:
        record["config"] = plain_config(config)
    record.update(plain_data(extra))
    return record


def write_provenance(record, path):
    """Write ``record`` as indented JSON, atomically."""
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda f: f.write(text), mode="w")
    return path


def header_line(record):
    """One line for a results header: seeds, versions, commit and device."""
    versions, git, device = record["versions"], record["git"], record["device"]
    commit = "no git" if git is None else f"git {git['commit'][:10]}{' (modified)' if git['modified'] else ''}"
    where = device.get("gpu") or f"{device['cpu']} ({device['cpu_count']} cores)"
    return (f"seeds {', '.join(map(str, record['seeds']))} · recbole-rd {versions['recbole-rd']} ({commit}) · "
            f"recbole {versions['recbole']} · torch {versions['torch']} · {where}")
