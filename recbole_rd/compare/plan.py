"""What a comparison is asked to do (:class:`CompareSpec`, parsed once from the command line or the Python
call) and the rows it trains for one seed (:class:`Row`): T, S, one per distillation method, the baselines,
each with its configuration and per-row overrides, checked before any training."""

import numbers
from dataclasses import dataclass, field
from logging import getLogger
from pathlib import Path
from typing import Optional

from recbole_rd.errors import ConfigError
from recbole_rd.key_lists import BUDGET_KEYS, NOT_PER_ROW, SPLIT_AND_EVALUATION_KEYS, TRAINED_WITH
from recbole_rd.quick_start.refusals import build_config_beside
from recbole_rd.quick_start.teacher_plan import (family_config, sibling_config, teacher_config, teacher_model_name,
                                                 width_keys)


@dataclass
class CompareSpec:
    """One comparison: ``base_model`` (``Caser``, ``Fossil`` or a RecBole model) on ``dataset``, for each
    of ``seeds``; ``methods``: ``[(row suffix, method name, config overrides)]``
    (:func:`parse_distill_methods`); ``config_dict``: with ``eval_protocol`` (:func:`default_protocol`) unless set;
    ``model_overrides``: ``{row label or model name: {key: value}}``; ``argv``: the command line recorded
    in the provenance (None: ``sys.argv``); ``resume``: reuse the rows kept under ``<stem>-rows/``;
    ``student_sizes``: the student widths of a size sweep (an S row and one row per method at each,
    labelled ``Caser-S@16``, ``Caser-RRD@16``; empty: the student's width alone, rows unlabelled)."""
    base_model: str
    dataset: str
    config_files: Optional[list] = None
    config_dict: dict = field(default_factory=dict)
    baselines: tuple = ()
    seeds: tuple = (2020,)
    methods: list = field(default_factory=list)
    teacher_model: Optional[str] = None
    model_overrides: Optional[dict] = None
    results_dir: str = "results"
    resume: bool = False
    argv: Optional[list] = None
    student_sizes: tuple = ()

    def seed_settings(self, seed):
        """The settings of the runs of ``seed``: ``config_dict``, ``teacher_model`` and the seed."""
        return {**self.config_dict, **({"teacher_model": self.teacher_model} if self.teacher_model else {}),
                "seed": seed}

    @property
    def stem(self):
        """Where the results go, less their endings: ``<results_dir>/<dataset>-<base_model>-compare``."""
        return Path(self.results_dir) / f"{self.dataset}-{self.base_model}-compare"

    @classmethod
    def from_call(cls, base_model, dataset, config_file_list=None, config_dict=None, baselines=(),
                  results_dir="results", seeds=(2020,), distill_methods="rd", teacher_model=None,
                  model_overrides=None, argv=None, resume=False, student_sizes=()):
        """The spec of :func:`recbole_rd.compare.compare`'s arguments; refuses unknown methods and
        invalid or repeated seeds and sizes (before any training)."""
        methods = parse_distill_methods(distill_methods)
        settings = {"eval_protocol": default_protocol(base_model), **(config_dict or {})}
        return cls(base_model, dataset, config_file_list, settings,
                   tuple(baselines), tuple(checked_seeds(seeds)), methods, teacher_model, model_overrides,
                   results_dir, resume, argv, tuple(checked_sizes(student_sizes)))

    @classmethod
    def from_args(cls, args, settings=None, argv=None):
        """The spec of the command line's parsed ``args`` (``--compare``) and its config ``settings`` (the
        other ``--key=value`` words; ``--<row or model>.<key>`` ones are per-row overrides); ``argv``: the
        command line as given, recorded in the provenance. ``--model`` names the base model or its
        distilled student (``CaserRD`` compares ``Caser``)."""
        from recbole_rd.model.abstract_recommender import is_student
        from recbole_rd.model.registry import get_model
        from recbole_rd.quick_start.cli import parse_seeds

        student = get_model(args.model)
        base = student.teacher_model if is_student(student) else args.model
        files = args.config_files.strip().split(" ") if args.config_files else None
        return cls.from_call(base, args.dataset, files, settings, baselines=[b for b in args.baselines.split(",") if b],
                             results_dir=args.results_dir, seeds=parse_seeds(args.seeds),
                             distill_methods=args.distill_methods, teacher_model=args.teacher_model, argv=argv,
                             resume=args.resume, student_sizes=args.student_sizes or ())


def default_protocol(base_model):
    """A comparison's default ``eval_protocol``: the paper's for a sequential base model, RecBole's
    (its default split of general models, full ranking) for a general one."""
    from recbole.utils import ModelType

    from recbole_rd.model.registry import get_model

    return "recbole" if get_model(base_model).type == ModelType.GENERAL else "paper"


def dotted_overrides(settings):
    """``{row or model: {key: value}}`` of the dotted keys of ``settings`` (``{'SASRec.epochs': 50}``)."""
    named = {}
    for key, value in settings.items():
        if "." in key:
            name, _, option = key.rpartition(".")
            named.setdefault(name, {})[option] = value
    return named


def checked_sizes(sizes):
    """``sizes`` (``"8,16,32"`` or integers) as a sorted list of distinct positive integers."""
    words = sizes.split(",") if isinstance(sizes, str) else list(sizes)
    try:
        values = [int(str(word).strip()) for word in words if str(word).strip()]
    except ValueError:
        values = None
    if values is None or any(v < 1 for v in values) or len(set(values)) != len(values):
        raise ConfigError(f"student_sizes: {sizes!r} is invalid; allowed: distinct positive integers, the "
                          f"student's width, e.g. --student_sizes=8,16,32,50")
    return sorted(values)


def checked_seeds(seeds):
    """``seeds`` as a list (one seed alone allowed); refuses non-integers, none and repeated ones."""
    seeds = [seeds] if isinstance(seeds, (str, numbers.Integral)) else list(seeds)
    if not all(isinstance(seed, numbers.Integral) for seed in seeds):
        raise ConfigError(f"seeds: {seeds!r} is invalid; allowed: integers, e.g. seeds=[2020, 2021] "
                          f"(--seeds=2020,2021 on the command line)")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated or not seeds:
        raise ConfigError(f"seeds: {', '.join(map(str, repeated)) + ' given more than once' if repeated else 'none given'};"
                          f" give each seed once, e.g. --seeds=2020,2021,2022 (a repeated seed would count one "
                          f"run twice in the mean and std)")
    return seeds


@dataclass
class Row:
    """One row of the comparison: its label, role (teacher, student, distilled, baseline), model, tag (the
    name its checkpoint carries), settings of its own (a distilled row's method) and config (built by
    :func:`row_config` once the per-row overrides are known; a given teacher's comes from its checkpoint)."""
    label: str
    role: str
    model: str
    tag: str
    settings: dict = field(default_factory=dict)
    config: object = None
    size: Optional[int] = None

    @property
    def model_name(self):
        """The model's name as its config holds it (``recbole.Caser`` is ``Caser``)."""
        return str(self.model).rpartition(".")[2]


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


def plan_rows(config, base_model, methods, baselines, given=None, sizes=()):
    """The rows of one seed: T, S, one per distillation method (at each of ``sizes``: S and the
    methods at that width), then the baselines; configs not built yet. The teacher is ``given`` (a given
    teacher's row), else ``teacher_model`` of distilled student ``config`` (default: ``base_model`` at
    teacher size)."""
    teacher_name = given.model if given else teacher_model_name(config)
    keys = width_keys(config.model_class)
    rows = [given or Row(f"{teacher_name}-T", "teacher", teacher_name, "teacher")]
    for size in sizes or (None,):
        at, width = (f"@{size}", dict.fromkeys(keys, size)) if size else ("", {})
        rows.append(Row(f"{base_model}-S{at}", "student", base_model, "student", width, size=size))
        rows += [Row(f"{base_model}-{suffix}{at}", "distilled", config["model"], name, {**overrides, **width}, size=size)
                 for suffix, name, overrides in methods]
    # a baseline of the teacher's architecture stays: RecBole's model at its own size and defaults
    rows += [Row(name, "baseline", name, name) for name in dict.fromkeys(baselines)]
    return rows


def row_config(row, config, overrides):
    """The config of ``row`` beside distilled student ``config``, with its per-row ``overrides``, each
    resolved by RecBole from the user's settings: T (:func:`teacher_config`) and S (the base model at
    the student's width) trained as the student; a distilled row the student with its method's keys; a
    baseline (:func:`sibling_config`) at its own defaults, with the comparison's budget and split."""
    if row.role == "teacher":
        return teacher_config(config, overrides)
    if row.role == "student":
        widths = {key: config[key] for key in width_keys(config.model_class)}
        return family_config(row.model, config, {**widths, **row.settings, **overrides})
    if row.role == "distilled":
        return build_config_beside(config, config.model_class, {**row.settings, **overrides})
    return sibling_config(row.model, config, BUDGET_KEYS + SPLIT_AND_EVALUATION_KEYS, overrides)


def row_overrides(config, rows, given=None):
    """``{row label: {key: value}}`` from ``given``, the config key ``model_overrides`` and dotted keys
    ``<row label or model name>.<key>`` of the user's settings (e.g. in a config file); a model name applies to
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
    for name, keys in dotted_overrides(config.external_config_dict).items():
        named.setdefault(name, {}).update(keys)
    per_row = {row.label: {} for row in rows}
    for name, keys in named.items():
        targets = [row.label for row in rows if name in (row.label, row.model_name)]
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
    if not (student and distilled and student.model_name in named):
        return
    keys = named[student.model_name]
    differ = sorted(k for k in keys if any(per_row[row.label].get(k) != keys[k] for row in distilled))
    if differ:
        model = distilled[0].model_name
        getLogger().warning(f"--{student.model_name}.<key>: {', '.join(differ)} set for every "
                            f"{student.model_name} row (S included) but not for the distilled rows (model "
                            f"{model}): they no longer train like S; add --{model}.<key> for them too")
