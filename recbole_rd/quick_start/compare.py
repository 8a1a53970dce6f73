"""Teacher vs student alone vs distilled students (and RecBole baselines) under one protocol.

    python run_recbole_rd.py --compare --model=Caser --dataset=foursquare-sample \
        [--distill_methods=rd,rd-position] [--teacher_model=SASRec] [--baselines=Pop,SASRec] \
        [--seeds=2020,2021] [--SASRec.epochs=50] [--results_dir=results]

Every row is trained on the same split and windows with the same budget and early stopping
(``BUDGET_KEYS``, taken from the distilled student's configuration), each with its own batch
size and learning rate (a RecBole model keeps RecBole's defaults for these) and its own
training loader seeded alike. Per-row overrides: ``--<row or model>.<key>=value`` (e.g.
``--SASRec.epochs=50``, ``--Caser-T.learning_rate=0.01``) or the config key
``model_overrides: {SASRec: {epochs: 50}}``.

Writes under ``results_dir``, with stem ``<dataset>-<model>-compare``: ``.md`` (table with a
provenance header), ``.csv`` (full precision, mean and std in separate columns), ``.png``
(accuracy against parameters and against top-10 time), ``-significance.{md,csv}`` (paired
t-tests over users of each distilled row against S and T) and ``-provenance.json`` (command
line, configurations, versions, git commit, device, seeds). Under the table on the console: each
distilled row's verdict against S and T (:mod:`recbole_rd.quick_start.verdict`) and warnings when the
budget was clearly too small.

Top-10 times are measured side by side: once a seed's rows are all trained (or reused), each row's best
checkpoint is loaded and the rows are timed in turn, in this process, over :data:`TIMING_ROUNDS`
interleaved rounds (T, S, ..., T, S, ...), each row's best round kept (:func:`time_side_by_side`); a
row whose checkpoint is gone keeps the time measured alone when it was trained, marked in the table.
The paper's protocol (``eval_protocol: paper``) is the default here.

With ``--teacher_checkpoint=saved/X.pth`` the T row is that checkpoint, not trained: loaded safely
(:func:`recbole_rd.distill.teacher.load_teacher`: same data, known model class), tested on each
seed's test split like any row, and every distilled row distils from it; its architecture is the
checkpoint's (``--teacher_model``, when given, must name it). The provenance records its path and
sha256 (``teacher``).

Each finished row is kept under ``<stem>-rows/`` (:mod:`recbole_rd.quick_start.row_store`); with
``--resume`` the rows whose record still holds are reused, so an interrupted comparison goes on and
seeds run in separate processes merge into one table.
"""

import csv
import io
import numbers
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path

import torch
from recbole.data.utils import get_dataloader
from recbole.utils import ModelType

from recbole_rd.data.paper_protocol import PeriodEvalData
from recbole_rd.distill.base import build_method
from recbole_rd.distill.teacher import file_sha256, derived_config, load_teacher, rows_per_block
from recbole_rd.quick_start import plot as figure
from recbole_rd.quick_start.provenance import plain_data, provenance, summary_line, write_provenance
from recbole_rd.quick_start.quick_start import prepare
from recbole_rd.quick_start.teacher_plan import ensure_teacher, sibling_config, teacher_config, teacher_model_name
from recbole_rd.quick_start.training import train_and_test
from recbole_rd.quick_start.row_store import RowStore
from recbole_rd.quick_start.verdict import budget_warnings, headline_metrics, verdict_report
from recbole_rd.ranking import top_k
from recbole_rd.key_lists import BUDGET_KEYS, NOT_PER_ROW, SPLIT_AND_EVALUATION_KEYS, TRAINED_WITH
from recbole_rd.trainer import get_trainer
from recbole_rd.model.registry import RECBOLE_PREFIX, get_model
from recbole_rd.utils import ConfigError, RecBoleRDError, atomic_write, size_key

NOT_TRAINED = "not trained here"  # the epochs of a teacher given by its checkpoint
TIMING_ROUNDS = 3  # interleaved rounds of side-by-side top-10 timing
SIDE_BY_SIDE, WHEN_TRAINED = "side by side", "when trained"  # how a row's top-10 time was measured


@dataclass
class Row:
    """One row of the comparison: its label, role (teacher, student, distilled, baseline) and config."""
    label: str
    role: str
    config: object
    tag: str


def user_blocks(eval_data, device):
    """The users of ``eval_data`` on ``device``, in blocks of :func:`rows_per_block` rows."""
    step = rows_per_block(eval_data._dataset.item_num)
    for batch in eval_data:
        interaction = batch[0].to(device)
        for first in range(0, len(interaction), step):
            yield interaction[first:first + step]


@torch.no_grad()
def time_topk_lists(model, eval_data, k=10, repeats=3):
    """Best-of-``repeats`` seconds to produce top-``k`` lists for every user of ``eval_data``."""
    model.eval()
    device = next(model.parameters()).device
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for part in user_blocks(eval_data, device):
            top_k(model.full_sort_predict(part).view(len(part), -1), k)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def timed_model(row, result, train):
    """``row``'s model for timing: its best checkpoint (``result['checkpoint']``) loaded on the training
    split's dataset (:func:`load_teacher`: checked, frozen, in eval mode); None when it is gone or no
    longer loads."""
    path = result.get("checkpoint")
    if not path or not Path(path).is_file():
        getLogger().warning(f"{row.label}: its checkpoint {path} is gone; its top-10 time is the one "
                            f"measured alone when it was trained")
        return None
    try:
        return load_teacher(row.config, train._dataset, path)[0]
    except RecBoleRDError as err:
        getLogger().warning(f"{row.label}: {err}; its top-10 time is the one measured alone when it was trained")
        return None


def time_side_by_side(rows, results, train, test, rounds=TIMING_ROUNDS):
    """Time the top-10 lists of every row of one seed in turn, in this process: each row's best
    checkpoint loaded, then ``rounds`` interleaved rounds (T, S, ..., T, S, ...); each row's best round
    becomes its ``topk_seconds`` (``time_measured``: :data:`SIDE_BY_SIDE`). A row whose checkpoint is
    gone keeps the time measured when it was trained (:data:`WHEN_TRAINED`)."""
    models = {row.label: timed_model(row, results[row.label], train) for row in rows}
    seconds = defaultdict(list)
    for _ in range(rounds):
        for label, model in models.items():
            if model is not None:
                seconds[label].append(time_topk_lists(model, test, repeats=1))
    for label in models:
        results[label]["time_measured"] = SIDE_BY_SIDE if seconds[label] else WHEN_TRAINED
        if seconds[label]:
            results[label]["topk_seconds"] = min(seconds[label])


# ---- which rows, with which configuration ----

def method_names():
    """``{name: method class}`` of the distillation methods and of each method's variants
    (``rd-position``, ``cd-student``: the method with its ``variant_key`` set)."""
    from recbole_rd.distill import METHODS, method_class

    method_class(None)  # imports every method module, so that each registers itself
    names = {name: METHODS[name] for name in sorted(METHODS)}
    for name, cls in list(names.items()):
        names.update((f"{name}-{variant}", cls) for variant in cls.variants)
    return names


def trained_with_keys(role):
    """:data:`TRAINED_WITH` of a row with ``role``; a distilled row's add ``distill_method`` and the
    variant key of every method (``weighting``, ``cd_sampling``): T, S and the baselines distil nothing."""
    if role != "distilled":
        return TRAINED_WITH
    variant_keys = sorted({cls.variant_key for cls in method_names().values() if cls.variant_key})
    return TRAINED_WITH + ("distill_method", *variant_keys)


def parse_distill_methods(spec):
    """``[(label, name, config overrides)]`` of ``spec`` (``"rd,rd-position"`` or a list):
    each method by name (``rd``, ``cd``, ``rrd``, ``dcd``) or as ``method-variant``."""
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n and n.strip()]
    allowed = method_names()
    unknown = [n for n in names if n.lower() not in allowed]
    if unknown or not names:
        raise ConfigError(f"distill_methods: {', '.join(map(repr, unknown)) or 'nothing'} given; allowed: "
                          f"{', '.join(allowed)} (comma-separated, e.g. --distill_methods=rd,rd-position)")
    methods = []
    for name in dict.fromkeys(n.lower() for n in names):
        method, _, variant = name.partition("-")
        overrides = {"distill_method": method, **({allowed[name].variant_key: variant} if variant else {})}
        methods.append((method.upper() + (f"-{variant}" if variant else ""), name, overrides))
    return methods


def comparison_config(name, config):
    """Config of a RecBole baseline: its own defaults, the comparison's budget and the shared split
    settings of the distilled student's ``config``."""
    return sibling_config(name, config, BUDGET_KEYS + SPLIT_AND_EVALUATION_KEYS)


def check_methods_kept(rows):
    """Refuse an override that turns a distilled row into another method than its name says
    (``--CaserRD.cd_sampling=teacher`` on the row ``Caser-CD-student``)."""
    for row in (r for r in rows if r.role == "distilled"):
        for key, value in parse_distill_methods(row.tag)[0][2].items():
            if row.config[key] != value:
                raise ConfigError(f"--{key}={row.config[key]} for row {row.label} contradicts its name ({key}: "
                                  f"{value}); drop that override, or name the method in --distill_methods")


def check_rows_differ(rows):
    """Refuse two distilled rows that are one run (``rd`` beside ``rd-hybrid``, RD's default, or
    ``cd`` beside ``cd-student`` under a global ``--cd_sampling=student``): it would be trained twice
    and one of them labelled as what it is not."""
    distilled = [row for row in rows if row.role == "distilled"]
    for i, row in enumerate(distilled):
        for earlier in distilled[:i]:
            if row.config.final_config_dict == earlier.config.final_config_dict:
                raise ConfigError(f"rows {earlier.label} and {row.label} are one run (every setting equal); "
                                  f"drop one from --distill_methods")


def check_negatives(rows):
    """Refuse a baseline trained with BPR (per-row overrides applied): RecBole's models need sampled
    negatives for it, and the comparison shares one training split without them."""
    for row in (r for r in rows if r.role == "baseline"):
        if str(row.config["loss_type"]).upper() == "BPR":
            raise ConfigError(f"baselines: {row.label} with loss_type BPR needs sampled negatives, but the "
                              f"comparison shares one split without them; pass --{row.label}.loss_type=CE or "
                              f"use Pop, SASRec, GRU4Rec, recbole.Caser")


def plan_rows(config, base_model, teacher_model, methods, baselines, given=None):
    """The rows of one seed: T, S, one per distillation method, then the baselines. The teacher is
    ``given`` (a :func:`given_teacher`'s row), else :func:`teacher_config` of the distilled student
    ``config``, after setting its ``teacher_model`` (default: the config's, else ``base_model`` at
    teacher size)."""
    if teacher_model:
        config["teacher_model"] = teacher_model
    teacher_name = given.label[:-len("-T")] if given else teacher_model_name(config)
    rows = [given or Row(f"{teacher_name}-T", "teacher", teacher_config(config), "teacher"),
            Row(f"{base_model}-S", "student", derived_config(config, model=base_model), "student")]
    rows += [Row(f"{base_model}-{suffix}", "distilled", derived_config(config, **overrides), name)
             for suffix, name, overrides in methods]
    # a baseline of the teacher's architecture stays: RecBole's model at its own size and defaults
    rows += [Row(name, "baseline", comparison_config(name, config), name) for name in dict.fromkeys(baselines)]
    return rows


def row_overrides(config, rows, given=None):
    """``{row label: {key: value}}`` from ``given``, the config key ``model_overrides`` and dotted
    keys ``<row label or model name>.<key>`` (e.g. ``--SASRec.epochs=50``); a model name applies to
    every row of that model. Refuses names matching no row and keys that cannot differ per row."""
    named = {}
    for source in (config["model_overrides"], given):
        if not source:
            continue
        if not isinstance(source, dict) or not all(isinstance(v, dict) for v in source.values()):
            raise ConfigError(f"model_overrides: {source!r} is invalid; allowed: {{row or model: {{key: value}}}}, "
                              f"e.g. {{'SASRec': {{'epochs': 50}}}}")
        for name, keys in source.items():
            named.setdefault(str(name), {}).update(keys)
    for key, value in config.final_config_dict.items():
        if "." in key:
            name, _, option = key.rpartition(".")
            named.setdefault(name, {})[option] = value
    per_row = {row.label: {} for row in rows}
    for name, keys in named.items():
        targets = [row.label for row in rows if name in (row.label, row.config["model"])]
        if not targets:
            raise ConfigError(f"--{name}.<key> / model_overrides: '{name}' names no row of this comparison; "
                              f"rows: {', '.join(row.label for row in rows)}")
        fixed = sorted(set(keys) & set(NOT_PER_ROW))
        if fixed:
            raise ConfigError(f"--{name}.{fixed[0]}: {', '.join(fixed)} cannot differ per row (all rows share "
                              f"one split, window and evaluation); set it for the whole comparison instead")
        if name not in per_row:  # a model name: say which rows it reached
            getLogger().info(f"--{name}.<key> ({', '.join(sorted(keys))}) applies to rows {', '.join(targets)}")
        for label in targets:
            per_row[label].update(keys)
    warn_student_only(rows, named, per_row)
    return per_row


def warn_student_only(rows, named, per_row):
    """Warn when a model-name override (``--Caser.lr``) reaches S but not the distilled rows (whose
    model is ``CaserRD``): S and the distilled students would no longer train alike."""
    student = next((row for row in rows if row.role == "student"), None)
    distilled = [row for row in rows if row.role == "distilled"]
    if not (student and distilled and student.config["model"] in named):
        return
    keys = named[student.config["model"]]
    differ = sorted(k for k in keys if any(per_row[row.label].get(k) != keys[k] for row in distilled))
    if differ:
        model = distilled[0].config["model"]
        getLogger().warning(f"--{student.config['model']}.<key>: {', '.join(differ)} set for every "
                            f"{student.config['model']} row (S included) but not for the distilled rows (model "
                            f"{model}): they no longer train like S; add --{model}.<key> for them too")


def train_loader(config, train):
    """A training loader of its own for a row: its batch size, shuffled by its seed, over the shared
    training split (so the order of rows never changes what a row sees)."""
    return get_dataloader(config, "train")(config, train._dataset, train._sampler, shuffle=config["shuffle"])


def add_test_figures(row, model, result, test):
    """Add what the comparison measures of every row's tested ``model`` to ``result`` (which holds
    its ``test_result``): top-10 timing and the metrics (per user where the split gives them). The time
    is measured alone, once: :func:`time_side_by_side` replaces it, unless the checkpoint is gone by then."""
    result["topk_seconds"] = time_topk_lists(model, test, repeats=1)
    if isinstance(test, PeriodEvalData):  # per-user values: significance, and metrics at full precision
        result["per_user"] = test.evaluate(model, row.config["device"], per_user=True)
        result["metrics"] = {m: float(v.double().mean()) for m, v in result["per_user"].items()}
    else:
        result["metrics"] = {m: float(v) for m, v in result["test_result"].items()}
    return result


def row_result(row, result, loader, test):
    """The result of :func:`train_and_test` for ``row`` (its ``trainer`` taken out), with what the
    comparison adds: top-10 timing, per-user metrics, epochs run and what it was trained with."""
    trainer = result.pop("trainer")
    add_test_figures(row, trainer.model, result, test)
    result["epochs_run"] = len(trainer.train_loss_dict)
    result["batch_size"] = loader.step
    result["trained_with"] = {key: plain_data(row.config[key]) for key in trained_with_keys(row.role)
                              if row.config[key] is not None}
    return result


def train_row(row, train, valid, test):
    """Train and test one row on a training loader of its own (:func:`row_result`)."""
    loader = train_loader(row.config, train)
    return row_result(row, train_and_test(row.config, loader, valid, test, tag=row.tag), loader, test)


def train_teacher(config, teacher, train, valid, test):
    """Train and test the teacher row ``teacher`` for distilled student ``config`` the way every entry
    point does (:func:`ensure_teacher`); the student's distillation keys are checked first."""
    loader = train_loader(teacher.config, train)
    _, result = ensure_teacher(config, loader, valid, test, teacher=teacher.config)
    return row_result(teacher, result, loader, test)


@dataclass
class GivenTeacher:
    """The T row of a comparison given by ``teacher_checkpoint``: its row, frozen model and checkpoint."""
    row: Row
    model: object
    state: dict


def given_teacher(config, teacher_model, train):
    """The teacher in ``config['teacher_checkpoint']`` (:func:`load_teacher`: refuses a missing,
    unsafe or corrupt file and one trained on other data) as a :class:`GivenTeacher`; refuses a
    ``teacher_model`` (argument, else config key) that names another architecture."""
    path = config["teacher_checkpoint"]
    model, state = load_teacher(config, train._dataset, path)
    name = state["model"] if get_model(state["model"]) is type(model) else RECBOLE_PREFIX + state["model"]
    wanted = teacher_model or config["teacher_model"]
    if wanted and get_model(wanted) is not type(model):
        raise ConfigError(f"teacher_model: {wanted} names another architecture than teacher_checkpoint {path}, "
                          f"which holds a {name}; drop --teacher_model (the checkpoint decides) or pass "
                          f"--teacher_model={name}")
    row_config = derived_config(config, **state["hyper_parameters"], model=state["model"])
    return GivenTeacher(Row(f"{name}-T", "teacher", row_config, "teacher"), model, state)


def given_teacher_result(given, test):
    """Test a :class:`GivenTeacher` like a trained row (:func:`add_test_figures`); its epochs (best
    only, where the checkpoint records it) and what it was trained with come from the checkpoint."""
    row, model, state = given.row, given.model, given.state
    trainer = get_trainer(row.config["MODEL_TYPE"], row.config["model"], type(model))(row.config, model)
    hyper = defaultdict(lambda: None, state["hyper_parameters"])  # its own keys, not the student's
    key = size_key(type(model), hyper)
    trained = state.get("run_config", {})
    result = {"model": state["model"], "d": hyper[key] if key else None,
              "parameters": sum(p.numel() for p in model.parameters()), "best_epoch": state.get("epoch"),
              "checkpoint": row.config["teacher_checkpoint"], "epochs_run": None,
              "test_result": trainer.evaluate(test, load_best_model=False),
              "batch_size": trained.get("train_batch_size"),
              "trained_with": {k: trained[k] for k in trained_with_keys(row.role) if trained.get(k) is not None}}
    return add_test_figures(row, model, result, test)


def train_all(base_model, seed, dataset, config_file_list, config_dict, baselines, progress,
              methods=None, teacher_model=None, model_overrides=None, rows_folder=None, resume=False):
    """``(rows, results by label, base config, train, test)`` of one seed: every row trained and tested on one split
    (the teacher given by ``teacher_checkpoint``, when set: loaded and checked first, then tested).
    Each finished row is kept under ``rows_folder`` (:class:`RowStore`; reused with ``resume``)."""
    config, train, valid, test = prepare(f"{base_model}RD", dataset, config_file_list, {**config_dict, "seed": seed})
    given = given_teacher(config, teacher_model, train) if config["teacher_checkpoint"] else None
    rows = plan_rows(config, base_model, teacher_model, methods or parse_distill_methods("rd"), baselines,
                     given and given.row)
    for row, keys in zip(rows, row_overrides(config, rows, model_overrides).values()):
        if given and row is given.row and keys:
            raise ConfigError(f"--{row.label}.{next(iter(keys))}: the teacher is given by teacher_checkpoint and "
                              f"not trained here, so its settings cannot change; drop the {row.label} overrides")
        row.config.final_config_dict.update(keys)
    check_methods_kept(rows)
    check_rows_differ(rows)
    check_negatives(rows)
    for row in rows:
        if row.role == "distilled":  # every distilled row's keys, before any training
            build_method(row.config, train._dataset.item_num)
    # the teacher is set on a copy: the provenance records the comparison's config as the user gave it
    student = derived_config(config)
    store = RowStore(rows_folder, config, resume) if rows_folder else None
    results = {}
    for index, row in enumerate(rows, 1):
        step = f"[seed {seed}] {index}/{len(rows)}"
        if given and row.role == "teacher":
            progress(f"{step} testing {row.label} (given: {config['teacher_checkpoint']})")
            results[row.label] = given_teacher_result(given, test)
            continue
        if row.role == "distilled":
            row.config["teacher_checkpoint"] = student["teacher_checkpoint"]
        described = store.describe(row, seed) if store else None
        kept = store.reusable(described) if store else None
        if kept:
            progress(f"{step} reusing {row.label} (finished earlier: {kept['reused_from']})")
            results[row.label] = kept
        else:
            progress(f"{step} training {row.label}")
            trained = train_teacher(student, row, train, valid, test) if row.role == "teacher" else \
                train_row(row, train, valid, test)
            results[row.label] = trained
            if store:
                store.save(described, trained)
        if row.role == "teacher":
            student["teacher_checkpoint"] = results[row.label]["checkpoint"]
    return rows, results, config, train, test


# ---- summaries ----

def _mean_std(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _mean_or_none(values):
    return None if None in values else statistics.fmean(values)


def epochs_run_best(results):
    """``run/best`` epochs of each seed's ``results`` of a row; for a teacher given by its checkpoint
    (no epochs run here), :data:`NOT_TRAINED` and the best epoch the checkpoint records."""
    if results[0]["epochs_run"] is None:
        best = results[0]["best_epoch"]
        return NOT_TRAINED + ("" if best is None else f", best {best}")
    return ", ".join(f"{result['epochs_run']}/{result['best_epoch']}" for result in results)


def summarise(runs, rows):
    """One row per model (numbers, full precision): size, what it was trained with, the mean and
    std over seeds of each test metric, and the top-10 time (also relative to the teacher's)."""
    teacher_seconds = statistics.fmean(run[rows[0].label]["topk_seconds"] for run in runs)
    table = []
    for row in rows:
        first = runs[0][row.label]
        out = {"model": row.label, "d": first["d"], "parameters": first["parameters"], "role": row.role,
               "train_batch_size": first["batch_size"], "learning_rate": first["trained_with"].get("learning_rate"),
               "epochs": first["trained_with"].get("epochs"),
               "epochs_run": _mean_or_none([run[row.label]["epochs_run"] for run in runs]),
               "best_epoch": _mean_or_none([run[row.label]["best_epoch"] for run in runs])}
        for metric in first["metrics"]:
            out[metric], out[f"{metric}_std"] = _mean_std([run[row.label]["metrics"][metric] for run in runs])
        out["top10_lists_s"], out["top10_lists_s_std"] = _mean_std([run[row.label]["topk_seconds"] for run in runs])
        out["time_vs_teacher"] = out["top10_lists_s"] / teacher_seconds
        out["epochs_run_best"] = epochs_run_best([run[row.label] for run in runs])
        measured = {run[row.label].get("time_measured", WHEN_TRAINED) for run in runs}
        out["time_measured"] = measured.pop() if len(measured) == 1 else "mixed"
        table.append(out)
    return table


def significance(runs, rows):
    """Paired t-tests over users (each user's metric averaged over seeds first) of every distilled
    row against S and against T, per metric."""
    from scipy.stats import ttest_rel

    def per_user(label):
        return {m: torch.stack([run[label]["per_user"][m] for run in runs]).double().mean(0).numpy()
                for m in runs[0][label]["per_user"]}

    teacher, student = rows[0], rows[1]
    tests = []
    for row in (r for r in rows if r.role == "distilled"):
        ours = per_user(row.label)
        for other, short in ((student, "S"), (teacher, "T")):
            theirs = per_user(other.label)
            for metric, values in ours.items():
                same = bool((values == theirs[metric]).all())
                p = 1.0 if same else float(ttest_rel(values, theirs[metric]).pvalue)
                tests.append({"comparison": f"{row.label.split('-', 1)[1]} vs {short}", "model": row.label,
                              "against": other.label, "metric": metric, "mean": float(values.mean()),
                              "mean_against": float(theirs[metric].mean()),
                              "mean_difference": float((values - theirs[metric]).mean()), "p_value": p,
                              "users": len(values)})
    return tests


# ---- output ----

def format_table(rows, columns=None):
    """Markdown table of ``rows`` (``columns``: ``{header: function of a row}``; default: the keys)."""
    columns = columns or {key: (lambda r, k=key: r.get(k)) for key in rows[0]}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if f(r) is None else str(f(r)) for f in columns.values()) + " |" for r in rows]
    return "\n".join(lines)


def _value(row, key, decimals=4):
    std = row.get(f"{key}_std")
    return f"{row[key]:.{decimals}f}" + ("" if std is None else f" ± {std:.{decimals}f}")


def display_columns(metrics):
    """Columns of the Markdown table: numbers rounded for reading (the CSV keeps them whole)."""
    columns = {
        "model": lambda r: r["model"], "d": lambda r: r["d"], "parameters": lambda r: f"{r['parameters']:,}",
        "batch": lambda r: r["train_batch_size"], "lr": lambda r: r["learning_rate"],
        "epochs run/best (max)": lambda r: r["epochs_run_best"] + ("" if r["epochs"] is None else f" ({r['epochs']})"),
    }
    columns.update({metric: (lambda r, m=metric: _value(r, m)) for metric in metrics})
    columns["top-10 lists, s"] = lambda r: _value(r, "top10_lists_s", 3) + timing_mark(r)
    columns["time vs T"] = lambda r: f"{r['time_vs_teacher']:.2f}"
    return columns


def timing_mark(row):
    """`` †`` after a top-10 time not (or not for every seed) measured side by side."""
    return "" if row.get("time_measured", SIDE_BY_SIDE) == SIDE_BY_SIDE else " †"


def timing_note(table):
    """The line saying how the top-10 times of ``table`` were measured."""
    note = (f"Top-10 times: measured side by side at the end of each seed's training, in this one process "
            f"(each row's best checkpoint, {TIMING_ROUNDS} interleaved rounds, best round kept)")
    if any(timing_mark(row) for row in table):
        note += "; † measured alone when the row was trained (its checkpoint is gone)"
    return note + "."


SIGNIFICANCE_COLUMNS = {
    "comparison": lambda t: t["comparison"], "metric": lambda t: t["metric"],
    "mean": lambda t: f"{t['mean']:.4f}", "against": lambda t: f"{t['mean_against']:.4f}",
    "difference": lambda t: f"{t['mean_difference']:+.5f}", "p_value": lambda t: f"{t['p_value']:.3g}",
    "users": lambda t: t["users"],
}


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_csv(rows, path):
    """CSV of ``rows`` (floats at full precision, missing values empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def header(title, record, stem):
    """The few lines above a Markdown table: what it is, how it was made, where the rest is."""
    return (f"## {title}\n\n{summary_line(record)}  \n`{record['command_line']}`  \n"
            f"Full configuration and versions: `{Path(stem).name}-provenance.json`\n\n")


def n_users(test):
    return len(test.users) if isinstance(test, PeriodEvalData) else sum(len(batch[0]) for batch in test)


def write_results(stem, table, tests, record, title, n_test_users, metrics):
    """Write every results file of a comparison under ``stem``; return their paths."""
    written = [write_provenance(record, f"{stem}-provenance.json")]
    write_csv(table, f"{stem}.csv")
    md_table = format_table(table, display_columns(metrics))
    write_text(f"{stem}.md", header(title, record, stem) + timing_note(table) + "\n\n" + md_table + "\n")
    written += [f"{stem}.md", f"{stem}.csv"]
    if tests:
        write_csv(tests, f"{stem}-significance.csv")
        write_text(f"{stem}-significance.md", header(f"{title}: paired t-tests over users", record, stem)
                   + format_table(tests, SIGNIFICANCE_COLUMNS) + "\n")
        written += [f"{stem}-significance.md", f"{stem}-significance.csv"]
    metric = "map" if "map" in metrics else next((m for m in metrics if m.startswith("ndcg")), metrics[0])
    points = [{**row, "top10_ms": row["top10_lists_s"] * 1000,
               "top10_ms_std": None if row["top10_lists_s_std"] is None else row["top10_lists_s_std"] * 1000}
              for row in table]
    seeds = len(record["seeds"])
    if figure.plot(points, f"{stem}.png", metric, f"{title} ({seeds} seed{'s' if seeds > 1 else ''})",
                   f"time for top-10 lists of all {n_test_users:,} test users, ms"):
        written.append(f"{stem}.png")
    for stale in {f"{stem}{end}" for end in ("-significance.md", "-significance.csv", ".png")} - set(written):
        Path(stale).unlink(missing_ok=True)  # an earlier run's: it would be read as this table's
    return md_table, written


def given_record(config):
    """``{'teacher': ...}`` for the provenance when the teacher was given by ``teacher_checkpoint``
    (its path as given and absolute, and the file's sha256), not trained; else ``{}``."""
    path = config["teacher_checkpoint"]
    if not path:
        return {}
    return {"teacher": {"given": True, "trained": False, "checkpoint": str(path),
                        "absolute_path": str(Path(path).resolve()), "sha256": file_sha256(path)}}


def compare(base_model, dataset, config_file_list=None, config_dict=None, baselines=(), results_dir="results",
            seeds=(2020,), progress=print, distill_methods="rd", teacher_model=None, model_overrides=None,
            argv=None, resume=False):
    """Train teacher, student alone and one distilled student per method of ``base_model`` (``Caser``
    or ``Fossil``) plus ``baselines`` on the same split for each seed; write the table, significance
    tests, plot and provenance under ``results_dir``; return the table rows (numbers).

    ``distill_methods``: ``"rd,rd-position"`` or a list (``rd``, ``cd``, ``rrd``, ``dcd``,
    ``rd-<weighting>``, ``cd-<sampling>``); ``teacher_model``: the teacher's architecture (default
    ``base_model`` at ``teacher_embedding_size``; e.g. ``SASRec``), which every distilled row learns from;
    ``model_overrides``: ``{row label or model name: {key: value}}``; ``argv``: the command line
    recorded in the provenance (default ``sys.argv``). With the config key ``teacher_checkpoint``
    the T row is that checkpoint, tested but not trained (see the module's docstring). Each finished
    row is kept under ``<stem>-rows/``; ``resume``: reuse those still valid (see the module's docstring).
    """
    methods = parse_distill_methods(distill_methods)  # before any training
    seeds = [seeds] if isinstance(seeds, (str, numbers.Integral)) else list(seeds)
    if not all(isinstance(seed, numbers.Integral) for seed in seeds):
        raise ConfigError(f"seeds: {seeds!r} is invalid; allowed: integers, e.g. seeds=[2020, 2021] "
                          f"(--seeds=2020,2021 on the command line)")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated or not seeds:
        raise ConfigError(f"seeds: {', '.join(map(str, repeated)) + ' given more than once' if repeated else 'none given'};"
                          f" give each seed once, e.g. --seeds=2020,2021,2022 (a repeated seed would count one "
                          f"run twice in the mean and std)")
    config_dict = {"eval_protocol": "paper", **(config_dict or {})}
    started = time.time()
    stem = Path(results_dir) / f"{dataset}-{base_model}-compare"
    runs = []
    for seed in seeds:
        rows, results, config, train, test = train_all(base_model, seed, dataset, config_file_list, config_dict,
                                                       baselines, progress, methods, teacher_model, model_overrides,
                                                       rows_folder=f"{stem}-rows", resume=resume)
        progress(f"[seed {seed}] timing the top-10 lists of the {len(rows)} rows side by side "
                 f"({TIMING_ROUNDS} rounds)")
        time_side_by_side(rows, results, train, test)
        runs.append(results)
    table = summarise(runs, rows)
    tests = significance(runs, rows) if all("per_user" in r for r in runs[0].values()) else []
    metrics = list(runs[0][rows[0].label]["metrics"])
    record = provenance(config, seeds, argv, seconds=round(time.time() - started, 1), **given_record(config), rows={
        row.label: {"role": row.role, "model": row.config["model"],
                    "config_differences": {k: v for k, v in plain_data(dict(row.config.final_config_dict)).items()
                                           if v != plain_data(config.final_config_dict.get(k))},
                    "per_seed": [{"seed": seed, "epochs_run": run[row.label]["epochs_run"],
                                  "best_epoch": run[row.label]["best_epoch"],
                                  "test_result": run[row.label]["metrics"],
                                  "trained_with": run[row.label]["trained_with"],
                                  "reused_from": run[row.label].get("reused_from")}
                                 for seed, run in zip(seeds, runs)]}
        for row in rows})
    protocol = config["eval_protocol"] or "recbole"
    title = f"{dataset}: {base_model} T / S / distilled, {protocol} protocol"
    if config["teacher_checkpoint"]:
        title += f", T given ({Path(config['teacher_checkpoint']).name})"
    md_table, written = write_results(stem, table, tests, record, title, n_users(test), metrics)
    progress(md_table)
    progress(timing_note(table))
    one_pass = {row.label for row in rows if row.config["MODEL_TYPE"] == ModelType.TRADITIONAL}  # e.g. Pop
    for line in verdict_report(tests, metrics, config["valid_metric"], len(seeds)) + budget_warnings(
            table, list(zip(seeds, runs)), headline_metrics(metrics, config["valid_metric"])[0], one_pass):
        progress(line)
    progress("written: " + ", ".join(map(str, written)))
    return table
