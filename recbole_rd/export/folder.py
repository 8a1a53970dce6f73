"""Writing an export folder (:func:`export_model`): the graph (checked against the model on a fresh batch),
the token lists, the contract, its README and ``serve.py``, written into a temporary folder that becomes the
output only once complete."""

import importlib.util
import json
import os
import shutil
import warnings
from pathlib import Path

import torch

from recbole_rd.distill.topk_cache import file_sha256
from recbole_rd.errors import ConfigError
from recbole_rd.export.scorer import INPUTS, OUTPUTS, TopKScorer, check_exportable, refuse

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
NEEDS = {"onnx": ("onnx", "onnxruntime"), "torchscript": ()}
SERVE = Path(__file__).with_name("serve.py")

README = """# {model} on {dataset}: top-{k} scorer ({fmt})

Exported by recbole-rd from `{checkpoint}` (sha256 `{sha256}`). Needs only numpy and {runtime}.

## Inputs (int64 indices; B users per call)
Item index `i` is entry `i` of `items.json`, user index `j` entry `j` of `users.json` (original tokens;
index 0 pads and is never returned). Every input is required, whether this model reads it or not.
- `user` `[B]`: the user's index (a user unknown at training: 0).
- `item_seq` `[B, n]`, 1 <= n <= {max_len}: the user's latest items, oldest first, left-aligned, 0 pads.
- `item_seq_len` `[B]`: how many entries of each `item_seq` row are items (>= 1).
- `history` `[B, h]`: every item the user has seen, any order, 0 pads (Fossil reads it; others ignore it).
- `exclude` `[B, e]`: items never returned (e.g. the user's seen items), 0 pads.

## Outputs
- `scores` `[B, {k}]` float32 and `items` `[B, {k}]` int64 item indices, best first. Excluded items and the
  padding item score `-inf`: they appear only at the end of a list, when fewer than {k} items are left.
  Equal scores come in the runtime's top-k order.

## Run it
`python serve.py ITEM ITEM ...` prints the top-{k} after those items (tokens), or in Python:
`from serve import Scorer; Scorer().recommend([[...recent tokens...]], users=[...])`. By hand:
```python
import json
import numpy as np
{load}
items, users = json.load(open("items.json")), json.load(open("users.json"))
item_index, user_index = {{t: i for i, t in enumerate(items)}}, {{t: i for i, t in enumerate(users)}}
recent = [item_index[t] for t in {example_items}]  # the user's latest items, oldest first
feed = {{"user": np.array([user_index.get({example_user}, 0)]), "item_seq": np.array([recent]),
        "item_seq_len": np.array([len(recent)]), "history": np.array([recent]), "exclude": np.array([recent])}}
{run}
print([(items[i], float(s)) for i, s in zip(top[0], scores[0])])  # (token, score), best first
```
"""

RUNTIMES = {
    "onnx": ("onnxruntime", "import onnxruntime\nsession = onnxruntime.InferenceSession(\"model.onnx\")",
             "scores, top = session.run(None, feed)"),
    "torchscript": ("torch", "import torch\nscorer = torch.jit.load(\"model.pt\")",
                    "scores, top = (t.numpy() for t in scorer(*(torch.from_numpy(feed[name]) for name in\n"
                    "    (\"user\", \"item_seq\", \"item_seq_len\", \"history\", \"exclude\"))))"),
}


def check_runtime(fmt):
    missing = [name for name in NEEDS[fmt] if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"format: {fmt} needs {' and '.join(missing)}, which is not installed; "
                          f"pip install 'recbole-rd[serve]' (or use --format=torchscript)")


def sample_inputs(model, batch, length, seed):
    """Random inputs of the scorer: ``batch`` users, windows of width ``length``, histories with repeats."""
    generator = torch.Generator().manual_seed(seed)
    draw = lambda *shape: torch.randint(1, model.n_items, shape, generator=generator)  # noqa: E731
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    seq = draw(batch, length) * (torch.arange(length) < lengths.unsqueeze(1))
    history = torch.cat([seq, draw(batch, 3), seq[:, :2]], 1)  # the window, others, and repeats
    users = torch.randint(1, max(2, getattr(model, "n_users", 2)), (batch,), generator=generator)
    return users, seq, lengths, history, draw(batch, 2 + seed)


def write_graph(scorer, model, fmt, path):
    """``scorer`` as ONNX (dynamic batch and list widths; the legacy TorchScript-based exporter) or
    TorchScript (traced) at ``path``."""
    example = sample_inputs(model, 2, model.max_seq_length, seed=0)
    with torch.no_grad():
        scorer(*example)  # a model that reads what the graph has no input for is refused here, in plain Python
    # the tracer's and exporter's warnings (values taken as constants, ...) are what check_graph then tests
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            axes = {"user": {0: "batch"}, "item_seq": {0: "batch", 1: "length"}, "item_seq_len": {0: "batch"},
                    "history": {0: "batch", 1: "seen"}, "exclude": {0: "batch", 1: "excluded"},
                    "scores": {0: "batch"}, "items": {0: "batch"}}
            torch.onnx.export(scorer, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        else:
            torch.jit.save(torch.jit.trace(scorer, example, check_trace=False), str(path))


def run_graph(path, fmt, inputs):
    """``(scores, items)`` of the written graph at ``path`` as torch tensors."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return tuple(map(torch.as_tensor, session.run(None, {n: t.numpy() for n, t in zip(INPUTS, inputs)})))
    with torch.no_grad():
        return torch.jit.load(str(path))(*inputs)


def check_graph(scorer, model, fmt, path):
    """Refuse the model unless the written graph gives the model's own top-k on a batch unlike the
    tracing example (another batch size, window width, lengths and list widths)."""
    inputs = sample_inputs(model, 5, max(1, model.max_seq_length - 1), seed=1)
    with torch.no_grad():
        expected, _ = scorer(*inputs)
    try:
        scores, _ = run_graph(path, fmt, inputs)
        if scores.shape != expected.shape:
            problem = f"scores of shape {tuple(scores.shape)} instead of {tuple(expected.shape)}"
        elif not torch.allclose(scores, expected, rtol=1e-4, atol=1e-4):
            problem = f"scores off by up to {float((scores - expected).nan_to_num(posinf=0, neginf=0).abs().max()):.3g}"
        else:
            problem = None
    except Exception as err:  # any failure of the written graph means the same: it cannot be served
        problem = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    if problem:
        refuse(model, f"its exported graph does not reproduce its own scores on a check batch ({problem}): "
                      f"its scoring depends on the batch through Python code that tracing freezes")


def write_json(path, data):
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def export_model(checkpoint, output=None, fmt="onnx", k=10, config_dict=None):
    """Export the model of ``checkpoint`` (any checkpoint recbole_rd wrote) to the folder ``output``
    (default: ``<checkpoint without .pth>-<fmt>``); ``k``: the list length; ``config_dict``: as
    :func:`recbole_rd.quick_start.load_data_and_model` (e.g. ``{'data_path': ...}`` when the data moved).
    Returns the folder. Refuses an unknown format, a missing runtime, a model that cannot be exported and
    an output folder that exists; nothing is left behind when it fails."""
    from recbole_rd.quick_start.load import load_data_and_model

    if fmt not in FORMATS:
        raise ConfigError(f"format: '{fmt}' is not one of {list(FORMATS)}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"topk: {k!r} is invalid; allowed: an integer >= 1")
    check_runtime(fmt)
    output = Path(output or f"{str(checkpoint).removesuffix('.pth')}-{fmt}")
    if output.exists():
        raise ConfigError(f"output: {output} exists; delete it or pass another --output")
    config, model, dataset, *_ = load_data_and_model(checkpoint, {"gpu_id": "", **(config_dict or {})})
    check_exportable(model)
    model = model.cpu().eval().requires_grad_(False)  # outputs that need no torch.no_grad() to become numpy
    if k >= dataset.item_num:
        raise ConfigError(f"topk: {k} is not below the {dataset.item_num} items (index 0 pads)")
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        scorer = TopKScorer(model, k)
        write_graph(scorer, model, fmt, partial / FORMATS[fmt])
        check_graph(scorer, model, fmt, partial / FORMATS[fmt])
        write_contract(partial, config, model, dataset, checkpoint, fmt, k)
        os.replace(partial, output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output


def write_contract(folder, config, model, dataset, checkpoint, fmt, k):
    """``items.json``, ``users.json``, ``contract.json``, ``README.md`` and ``serve.py`` into ``folder``."""
    items = list(map(str, dataset.field2id_token[dataset.iid_field]))
    users = list(map(str, dataset.field2id_token[dataset.uid_field]))
    write_json(folder / "items.json", items)
    write_json(folder / "users.json", users)
    sha = file_sha256(checkpoint)
    write_json(folder / "contract.json", {
        "format": fmt, "file": FORMATS[fmt], "model": config["model"], "dataset": config["dataset"],
        "checkpoint": str(checkpoint), "checkpoint_sha256": sha, "k": k,
        "max_item_seq_length": model.max_seq_length, "inputs": list(INPUTS), "outputs": list(OUTPUTS),
        "n_items": len(items), "n_users": len(users)})
    runtime, load, run = RUNTIMES[fmt]
    (folder / "README.md").write_text(README.format(
        model=config["model"], dataset=config["dataset"], k=k, fmt=fmt, checkpoint=checkpoint, sha256=sha,
        runtime=runtime, max_len=model.max_seq_length, load=load, run=run, example_items=items[1:4],
        example_user=repr(users[1])), encoding="utf-8")
    shutil.copyfile(SERVE, folder / "serve.py")
