"""Teacher vs student alone vs distilled students (and RecBole baselines) under one protocol.

    python run_recbole_rd.py --compare --model=Caser --dataset=foursquare-sample \
        [--distill_methods=rd,rd-position] [--teacher_model=SASRec] [--baselines=Pop,SASRec] \
        [--seeds=2020,2021] [--SASRec.epochs=50] [--results_dir=results]

or from Python ``compare("Caser", "foursquare-sample", ...)`` (:func:`recbole_rd.compare.run.compare`).
What is asked is parsed once into a :class:`~recbole_rd.compare.plan.CompareSpec` (:mod:`.plan`: the
rows and their configurations), run by :mod:`.run` (training, the row store, side-by-side timing in
:mod:`.timing`), each row's result a :class:`~recbole_rd.compare.result.RowResult`, summed up by
:mod:`.summary` (means over seeds, paired tests) and reported by :mod:`.report` (files and pages; the
verdict in :mod:`.verdict`, the figure in :mod:`.plot`).

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
line, configurations, versions, git commit, device, seeds). The ``.md`` pages are made from the
``.csv`` and ``-provenance.json`` files, as ``python -m recbole_rd.compare.report <stem> --markdown``
makes the whole page again (:mod:`.report`). Under the table on the console: each distilled row's
verdict against S and T (:mod:`recbole_rd.compare.verdict`) and warnings when the budget was clearly
too small.

Top-10 times are measured side by side (:mod:`recbole_rd.compare.timing`): once a seed's rows are all
trained (or reused), each row's best checkpoint is loaded and the rows are timed in turn, in this
process, over interleaved rounds (T, S, ..., T, S, ...), each row's best round kept; a row whose
checkpoint is gone keeps the time measured alone when it was trained, marked in the table. The
paper's protocol (``eval_protocol: paper``) is the default here.

With ``--teacher_checkpoint=saved/X.pth`` the T row is that checkpoint, not trained: loaded safely
(:func:`recbole_rd.distill.teacher.load_teacher`: same data, known model class), tested on each
seed's test split like any row, and every distilled row distils from it; its architecture is the
checkpoint's (``--teacher_model``, when given, must name it). The provenance records its path and
sha256 (``teacher``).

Each finished row is kept under ``<stem>-rows/`` (:mod:`recbole_rd.compare.row_store`); with
``--resume`` the rows whose record still holds are reused, so an interrupted comparison goes on and
seeds run in separate processes merge into one table.

The names below are imported on first use (``python -m recbole_rd.compare.report`` loads no model).
"""

from recbole_rd.lazy import lazy_exports

_EXPORTS = {"compare": "recbole_rd.compare.run", "run_compare": "recbole_rd.compare.run",
            "CompareSpec": "recbole_rd.compare.plan", "Row": "recbole_rd.compare.plan",
            "RowResult": "recbole_rd.compare.result"}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
