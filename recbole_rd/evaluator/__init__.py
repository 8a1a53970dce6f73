"""Evaluation of the paper protocol (as RecBole's ``recbole/evaluator/``): the metrics,
which of them a config asks for, and the evaluation of one period."""

from recbole_rd.evaluator.evaluator import PAPER_METRICS, PAPER_TOPK, EvalSettings, eval_settings, ranking_metrics
from recbole_rd.evaluator.metrics import METRICS, Rankings
from recbole_rd.evaluator.period import evaluate_period, with_settings

__all__ = ["EvalSettings", "METRICS", "PAPER_METRICS", "PAPER_TOPK", "Rankings", "eval_settings", "evaluate_period",
           "ranking_metrics", "with_settings"]
