"""Running a comparison (:func:`run_compare`): for each seed, every row trained (or reused from the row
store, or given by ``teacher_checkpoint``) and tested on one split, the rows timed side by side, then the
summary, tests and files (:mod:`recbole_rd.compare.report`) and the verdict printed under the table.

Each row's result is a :class:`RowResult`, made where :func:`train_and_test`'s dict (which holds the
trainer) comes back; the trainer goes no further."""

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from recbole.data.utils import get_dataloader
from recbole.utils import ModelType

from recbole_rd.compare import timing
from recbole_rd.compare.plan import CompareSpec, Row, plan_rows, row_config, row_overrides, trained_with_keys
from recbole_rd.compare.row_checks import check_rows
from recbole_rd.compare.provenance import plain_data, provenance
from recbole_rd.compare import sweep
from recbole_rd.compare.report import format_table, timing_note, write_results
from recbole_rd.compare.result import RowResult
from recbole_rd.compare.row_store import RowStore
from recbole_rd.compare.summary import significance, summarise
from recbole_rd.compare.verdict import budget_warnings, headline_metrics, verdict_report
from recbole_rd.data.period import PeriodEvalData
from recbole_rd.distill.base import build_method
from recbole_rd.distill.teacher import load_teacher, saved_teacher_config
from recbole_rd.distill.topk_cache import file_sha256
from recbole_rd.errors import ConfigError
from recbole_rd.model.registry import RECBOLE_PREFIX, get_model
from recbole_rd.quick_start.quick_start import prepare
from recbole_rd.quick_start.teacher_plan import ensure_teacher
from recbole_rd.quick_start.training import train_and_test
from recbole_rd.trainer import get_trainer
from recbole_rd.utils import size_key


def train_loader(config, train):
    """A training loader of its own for a row: its batch size, shuffled by its seed, over the shared
    training split (so the order of rows never changes what a row sees)."""
    return get_dataloader(config, "train")(config, train._dataset, train._sampler, shuffle=config["shuffle"])


def tested(row, trainer, test, evaluated=None, **known):
    """The :class:`RowResult` of ``row``'s tested model (``trainer.model``): its top-10 time, measured
    alone, once (:func:`timing.time_side_by_side` replaces it, unless the checkpoint is gone by then),
    and its metrics at full precision with each user's value (paper protocol: our evaluation of the
    period; RecBole protocol: RecBole's evaluation, its top-k metrics kept per user); ``evaluated``: the
    ``(result, per_user)`` of the test pass already made (else it is made here); ``known``: the other
    fields."""
    seconds = timing.time_topk_lists(trainer.model, test, repeats=1)
    metrics, per_user = evaluated or trainer.evaluate_with_users(test, load_best_model=False)
    metrics = {m: float(v) for m, v in metrics.items()} | {m: float(v.double().mean()) for m, v in per_user.items()}
    return RowResult(metrics=metrics, per_user=per_user or None, topk_seconds=seconds, **known)


def row_result(row, result, loader, test):
    """The :class:`RowResult` of ``row`` from :func:`train_and_test`'s ``result`` (its trainer used here
    and left behind): top-10 timing, the test pass's per-user metrics, epochs run and what it was
    trained with."""
    trainer = result["trainer"]
    return tested(row, trainer, test, (result["test_result"], result["test_per_user"]), model=result["model"],
                  d=result["d"], parameters=result["parameters"], epochs_run=len(trainer.train_loss_dict),
                  best_epoch=result["best_epoch"], checkpoint=result["checkpoint"], batch_size=loader.step,
                  trained_with={key: plain_data(row.config[key]) for key in trained_with_keys(row.role)
                                if row.config[key] is not None})


def train_row(row, train, valid, test):
    """Train and test one row on a training loader of its own (:func:`row_result`)."""
    loader = train_loader(row.config, train)
    return row_result(row, train_and_test(row.config, loader, valid, test, tag=row.tag), loader, test)


def train_teacher(teacher, rows, train, valid, test):
    """Train and test the teacher row ``teacher`` of ``rows`` the way every entry point does
    (:func:`ensure_teacher`, for the first distilled row); the student's distillation keys are checked first."""
    student = next(row.config for row in rows if row.role == "distilled")
    loader = train_loader(teacher.config, train)
    _, result = ensure_teacher(student, loader, valid, test, teacher=teacher.config)
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
    row = Row(f"{name}-T", "teacher", name, "teacher", config=saved_teacher_config(config, type(model), state))
    return GivenTeacher(row, model, state)


def given_teacher_result(given, test):
    """Test a :class:`GivenTeacher` like a trained row (:func:`tested`); its epochs (best only, where the
    checkpoint records it) and what it was trained with come from the checkpoint."""
    row, model, state = given.row, given.model, given.state
    trainer = get_trainer(row.config["MODEL_TYPE"], row.config["model"], type(model))(row.config, model)
    hyper = defaultdict(lambda: None, state["hyper_parameters"])  # its own keys, not the student's
    key = size_key(type(model), hyper)
    trained = state.get("run_config", {})
    return tested(row, trainer, test, model=state["model"],
                  d=hyper[key] if key else None, parameters=sum(p.numel() for p in model.parameters()),
                  best_epoch=state.get("epoch"), checkpoint=row.config["teacher_checkpoint"], epochs_run=None,
                  batch_size=trained.get("train_batch_size"),
                  trained_with={k: trained[k] for k in trained_with_keys(row.role) if trained.get(k) is not None})


def plan_seed(spec, config, train):
    """The rows of one seed (:func:`plan_rows`, per-row overrides applied, checked) and the given teacher
    (a :class:`GivenTeacher`, None unless ``teacher_checkpoint`` is set)."""
    if config["teacher_rankings"]:
        raise ConfigError("teacher_rankings: --compare needs a teacher it can test as its T row, and a file of "
                          "rankings is not one; give --teacher_checkpoint, or distil the file in a single run "
                          "(python run_recbole_rd.py --model=CaserRD --teacher_rankings=...)")
    given = given_teacher(config, spec.teacher_model, train) if config["teacher_checkpoint"] else None
    rows = plan_rows(config, spec.base_model, spec.methods, spec.baselines, given and given.row, spec.student_sizes)
    for row, keys in zip(rows, row_overrides(config, rows, spec.model_overrides).values()):
        if given and row is given.row:
            if keys:
                raise ConfigError(f"--{row.label}.{next(iter(keys))}: the teacher is given by teacher_checkpoint "
                                  f"and not trained here, so its settings cannot change; drop the {row.label} "
                                  f"overrides")
            continue
        row.config = row_config(row, config, keys)
    check_rows(rows)
    for row in rows:
        if row.role == "distilled":  # every distilled row's keys, before any training
            build_method(row.config, train._dataset.item_num)
    return rows, given


def train_all(spec, seed, progress=print):
    """``(rows, {row label: RowResult}, base config, train, test)`` of one ``seed`` of ``spec``: every row
    trained and tested on one split (the teacher given by ``teacher_checkpoint``, when set: loaded and
    checked first, then tested). Each finished row is kept under ``<stem>-rows/`` (:class:`RowStore`;
    reused with ``spec.resume``)."""
    config, train, valid, test = prepare(f"{spec.base_model}RD", spec.dataset, spec.config_files,
                                         spec.seed_settings(seed), reads_command_line=False)
    rows, given = plan_seed(spec, config, train)
    teacher_path = config["teacher_checkpoint"]
    store = RowStore(f"{spec.stem}-rows", config, spec.resume)
    results = {}
    for index, row in enumerate(rows, 1):
        step = f"[seed {seed}] {index}/{len(rows)}"
        if given and row.role == "teacher":
            progress(f"{step} testing {row.label} (given: {config['teacher_checkpoint']})")
            results[row.label] = given_teacher_result(given, test)
            continue
        if row.role == "distilled":
            row.config["teacher_checkpoint"] = teacher_path
        described = store.describe(row, seed)
        kept = store.reusable(described)
        if kept:
            progress(f"{step} reusing {row.label} (finished earlier: {kept.reused_from})")
            results[row.label] = kept
        else:
            progress(f"{step} training {row.label}")
            trained = train_teacher(row, rows, train, valid, test) if row.role == "teacher" else \
                train_row(row, train, valid, test)
            results[row.label] = trained
            store.save(described, trained)
        if row.role == "teacher":
            teacher_path = results[row.label].checkpoint
    return rows, results, config, train, test


def given_record(config):
    """``{'teacher': ...}`` for the provenance when the teacher was given by ``teacher_checkpoint``
    (its path as given and absolute, and the file's sha256), not trained; else ``{}``."""
    path = config["teacher_checkpoint"]
    if not path:
        return {}
    return {"teacher": {"given": True, "trained": False, "checkpoint": str(path),
                        "absolute_path": str(Path(path).resolve()), "sha256": file_sha256(path)}}


def comparison_record(spec, config, rows, runs, seconds):
    """The provenance of a comparison: :func:`provenance` with each row's role, model, configuration
    differences from the distilled student's ``config`` and, per seed, epochs, test result, what it was
    trained with and the record it was reused from."""
    base = plain_data(config.final_config_dict)
    return provenance(config, spec.seeds, spec.argv, seconds=seconds, **given_record(config), rows={
        row.label: {"role": row.role, "model": row.config["model"],
                    "config_differences": {k: v for k, v in plain_data(dict(row.config.final_config_dict)).items()
                                           if v != base.get(k)},
                    "per_seed": [{"seed": seed, "epochs_run": run[row.label].epochs_run,
                                  "best_epoch": run[row.label].best_epoch, "test_result": run[row.label].metrics,
                                  "trained_with": run[row.label].trained_with,
                                  "reused_from": run[row.label].reused_from}
                                 for seed, run in zip(spec.seeds, runs)]}
        for row in rows})


def run_compare(spec, progress=print):
    """Run the comparison ``spec`` (a :class:`CompareSpec`): write its files under ``spec.stem``, print the
    table, the timing note, the verdict and the warnings through ``progress``; return the table rows."""
    started = time.time()
    runs = []
    for seed in spec.seeds:
        rows, results, config, train, test = train_all(spec, seed, progress)
        progress(f"[seed {seed}] timing the top-10 lists of the {len(rows)} rows side by side "
                 f"({timing.TIMING_ROUNDS} rounds)")
        timing.time_side_by_side(rows, results, train, test)
        runs.append(results)
    table = summarise(runs, rows)
    tests = significance(runs, rows)
    metrics = list(runs[0][rows[0].label].metrics)
    record = comparison_record(spec, config, rows, runs, round(time.time() - started, 1))
    n_test_users = len(test.users) if isinstance(test, PeriodEvalData) else sum(len(batch[0]) for batch in test)
    md_table, written = write_results(spec.stem, table, tests, record, n_test_users, metrics)
    progress(md_table)
    progress(timing_note(table))
    if spec.student_sizes:
        progress(format_table(sweep.size_rows(table)))
        progress("\n".join(sweep.sweep_summary(table)))
    one_pass = {row.label for row in rows if row.config["MODEL_TYPE"] == ModelType.TRADITIONAL}  # e.g. Pop
    for line in verdict_report(tests, metrics, config["valid_metric"], len(spec.seeds)) + budget_warnings(
            table, list(zip(spec.seeds, runs)), headline_metrics(metrics, config["valid_metric"])[0], one_pass):
        progress(line)
    progress("written: " + ", ".join(map(str, written)))
    return table


def compare(base_model, dataset, config_file_list=None, config_dict=None, baselines=(), results_dir="results",
            seeds=(2020,), progress=print, distill_methods="rd", teacher_model=None, model_overrides=None,
            argv=None, resume=False, student_sizes=()):
    """Train teacher, student alone and one distilled student per method of ``base_model`` (``Caser``,
    ``Fossil`` or a RecBole sequential model such as ``SASRec``) plus ``baselines`` on the same split for each seed; write the table, significance
    tests, plot and provenance under ``results_dir``; return the table rows (numbers).

    ``distill_methods``: ``"rd,rd-position"`` or a list (``rd``, ``cd``, ``rrd``, ``dcd``,
    ``rd-<weighting>``, ``cd-<sampling>``); ``teacher_model``: the teacher's architecture (default
    ``base_model`` at ``teacher_embedding_size``; e.g. ``SASRec``), which every distilled row learns from;
    ``model_overrides``: ``{row label or model name: {key: value}}``; ``argv``: the command line
    recorded in the provenance (default ``sys.argv``). With the config key ``teacher_checkpoint``
    the T row is that checkpoint, tested but not trained (see :mod:`recbole_rd.compare`). Each finished
    row is kept under ``<stem>-rows/``; ``resume``: reuse those still valid. ``student_sizes``: a size
    sweep (:mod:`recbole_rd.compare.sweep`). No command line is read: ``config_dict`` holds every setting.
    """
    spec = CompareSpec.from_call(base_model, dataset, config_file_list, config_dict, baselines, results_dir,
                                 seeds, distill_methods, teacher_model, model_overrides, argv, resume, student_sizes)
    return run_compare(spec, progress)
