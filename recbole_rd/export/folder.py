"""Writing an export folder (:func:`export_model`): the graph, the token lists, the contract and its README,
all written into a temporary folder that becomes the output only once complete."""

import json
import os
import shutil
from pathlib import Path

import torch

from recbole_rd.distill.teacher import file_sha256
from recbole_rd.errors import ConfigError
from recbole_rd.export.scorer import TopKScorer, check_exportable

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
INPUTS = ("user", "item_seq", "item_seq_len", "exclude")
OUTPUTS = ("scores", "items")

README = """# {model} on {dataset}: top-{k} scorer ({fmt})

Exported by recbole-rd from `{checkpoint}` (sha256 `{sha256}`). Needs only {runtime}.

## Inputs (int64; B users per call)
- `user` `[B]`: the user's index: its position in `users.json` (a user unknown at training: index 0).
- `item_seq` `[B, n]`, n <= {max_len}: the user's most recent items, oldest first, as indices of
  `items.json`, left-aligned, padded with 0 on the right.
- `item_seq_len` `[B]`: how many entries of each `item_seq` row are items (1..n).
- `exclude` `[B, e]`: items never returned (e.g. those the user has seen), 0 where there are fewer.

## Outputs
- `scores` `[B, {k}]` (float32) and `items` `[B, {k}]` (int64 indices of `items.json`), best first.
  Equal scores come in the order of the runtime's top-k (ties are rare with float scores).

## Run it
```python
import json
import numpy as np
{load}
items, users = json.load(open("items.json")), json.load(open("users.json"))
item_index, user_index = {{t: i for i, t in enumerate(items)}}, {{t: i for i, t in enumerate(users)}}
recent = [item_index[t] for t in {example_items}]          # the user's last items, oldest first
feed = {{"user": np.array([user_index.get({example_user}, 0)]), "item_seq": np.array([recent]),
        "item_seq_len": np.array([len(recent)]), "exclude": np.array([recent])}}
{run}
print([items[i] for i in top[0]])
```
"""

RUNTIMES = {
    "onnx": ("onnxruntime", "import onnxruntime\nsession = onnxruntime.InferenceSession(\"model.onnx\")",
             "scores, top = session.run(None, feed)"),
    "torchscript": ("torch", "import torch\nscorer = torch.jit.load(\"model.pt\")",
                    "scores, top = scorer(*(torch.as_tensor(feed[k]) for k in (\"user\", \"item_seq\", "
                    "\"item_seq_len\", \"exclude\")))"),
}


def example_inputs(model, batch=2):
    n = model.max_seq_length
    return (torch.ones(batch, dtype=torch.long), torch.ones(batch, n, dtype=torch.long),
            torch.full((batch,), n, dtype=torch.long), torch.zeros(batch, 1, dtype=torch.long))


def write_graph(scorer, model, fmt, path):
    """``scorer`` as ONNX (dynamic batch and exclude width) or TorchScript at ``path``."""
    example = example_inputs(model)
    with torch.no_grad():
        if fmt == "onnx":
            axes = {"user": {0: "batch"}, "item_seq": {0: "batch", 1: "length"}, "item_seq_len": {0: "batch"},
                    "exclude": {0: "batch", 1: "excluded"}, "scores": {0: "batch"}, "items": {0: "batch"}}
            torch.onnx.export(scorer, example, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        else:
            torch.jit.save(torch.jit.trace(scorer, example, check_trace=False), str(path))


def write_json(path, data):
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def export_model(checkpoint, output=None, fmt="onnx", k=10, config_dict=None):
    """Export the model of ``checkpoint`` (any checkpoint recbole_rd wrote) to the folder ``output``
    (default: ``<checkpoint without .pth>-<fmt>``); ``k``: the list length; ``config_dict``: as
    :func:`recbole_rd.quick_start.load_data_and_model` (e.g. ``{'data_path': ...}`` when the data moved).
    Returns the folder. Refuses an unknown format, a model that cannot be exported and an output folder
    that exists; nothing is left behind when it fails."""
    from recbole_rd.quick_start.load import load_data_and_model

    if fmt not in FORMATS:
        raise ConfigError(f"format: '{fmt}' is not one of {list(FORMATS)}")
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"topk: {k!r} is invalid; allowed: an integer >= 1")
    output = Path(output or f"{str(checkpoint).removesuffix('.pth')}-{fmt}")
    if output.exists():
        raise ConfigError(f"output: {output} exists; delete it or pass another --output")
    config, model, dataset, *_ = load_data_and_model(checkpoint, {"gpu_id": "", **(config_dict or {})})
    check_exportable(model)
    model = model.cpu().eval()
    if k >= dataset.item_num:
        raise ConfigError(f"topk: {k} is not below the {dataset.item_num} items (index 0 pads)")
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        write_graph(TopKScorer(model, k), model, fmt, partial / FORMATS[fmt])
        items = list(map(str, dataset.field2id_token[dataset.iid_field]))
        users = list(map(str, dataset.field2id_token[dataset.uid_field]))
        write_json(partial / "items.json", items)
        write_json(partial / "users.json", users)
        sha = file_sha256(checkpoint)
        write_json(partial / "contract.json", {
            "format": fmt, "file": FORMATS[fmt], "model": config["model"], "dataset": config["dataset"],
            "checkpoint": str(checkpoint), "checkpoint_sha256": sha, "k": k, "max_item_seq_length":
            model.max_seq_length, "inputs": list(INPUTS), "outputs": list(OUTPUTS), "n_items": len(items),
            "n_users": len(users)})
        runtime, load, run = RUNTIMES[fmt]
        (partial / "README.md").write_text(README.format(
            model=config["model"], dataset=config["dataset"], k=k, fmt=fmt, checkpoint=checkpoint, sha256=sha,
            runtime=runtime, max_len=model.max_seq_length, load=load, run=run, example_items=items[1:4],
            example_user=repr(users[1])), encoding="utf-8")
        os.replace(partial, output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output
