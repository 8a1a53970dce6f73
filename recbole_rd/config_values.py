"""Type and range of the numeric config keys this package and RecBole read, checked before anything
is built: a typo (``--epochs=abc``, ``--embedding_size=0``) is one ConfigError naming the key, never
a traceback from inside RecBole or torch (``topk`` and ``metrics`` RecBole checks itself). Imports
nothing heavy: the command line checks its own values with it before torch loads. (Distillation keys are checked by their method, see
:mod:`recbole_rd.distill`.)"""

import math
from enum import Enum

from recbole_rd.errors import ConfigError


def check_key(key, value, ok, allowed):
    """Raise a ConfigError naming ``key`` when ``ok`` is false."""
    if not ok:
        raise ConfigError(f"{key}: {value!r} is invalid; allowed: {allowed}")


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def int_at_least(low):
    return (lambda v: is_int(v) and v >= low), f"an integer >= {low}"


def number_in(low, high, low_open=False, high_open=False):
    def ok(v):
        return (is_number(v) and math.isfinite(v) and (v > low if low_open else v >= low)
                and (v < high if high_open else v <= high))
    return ok, f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


POSITIVE_INT, NON_NEGATIVE_INT = int_at_least(1), int_at_least(0)
POSITIVE = (lambda v: is_number(v) and 0 < v < math.inf), "a finite number > 0"
NON_NEGATIVE = (lambda v: is_number(v) and 0 <= v < math.inf), "a finite number >= 0"
PROBABILITY = number_in(0, 1, high_open=True)
# key -> (test, what is allowed); None values are left to their readers (they mean "default")
VALUE_RULES = {
    **dict.fromkeys(("epochs", "train_batch_size", "eval_batch_size", "eval_step", "embedding_size",
                     "hidden_size", "inner_size", "n_layers", "n_heads", "num_layers", "teacher_embedding_size",
                     "L", "MAX_ITEM_LIST_LENGTH", "neg_samples"), POSITIVE_INT),
    **dict.fromkeys(("stopping_step", "nh", "nv", "metric_decimal_place", "worker"), NON_NEGATIVE_INT),
    "seed": ((lambda v: is_int(v)), "an integer"),
    "learning_rate": POSITIVE,
    **dict.fromkeys(("weight_decay", "reg_weight", "fossil_alpha"), NON_NEGATIVE),
    **dict.fromkeys(("dropout_prob", "hidden_dropout_prob", "attn_dropout_prob"), PROBABILITY),
}


def check_values(values):
    """ConfigError naming the first key of :data:`VALUE_RULES` whose value in ``values`` is invalid."""
    for key, (ok, allowed) in VALUE_RULES.items():
        value = values.get(key)
        if value is not None:
            check_key(key, value, ok(value), allowed)


def command_line_value(text):
    """A ``--key=value`` string read as RecBole's Config reads it (``_convert_config_dict``): a Python
    literal or expression when it evaluates to plain data, ``true``/``false`` in any case, else the text."""
    try:
        value = eval(text)  # what RecBole itself does with every command-line value
        return value if value is None or isinstance(value, (str, int, float, list, tuple, dict, bool, Enum)) else text
    except (NameError, SyntaxError, TypeError):
        return {"true": True, "false": False}.get(text.lower(), text)
    except Exception:  # noqa: BLE001  (e.g. 1/0: RecBole would raise it inside Config; report it as text)
        return text


def command_line_texts(argv):
    """``{key: text}`` of the ``--key=value`` words of ``argv``: RecBole's command-line settings, which
    win over any value a run sets in its config_dict."""
    return dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)


def command_line_values(argv):
    """``{key: value}`` of the ``--key=value`` words of ``argv``, read as RecBole reads them."""
    return {key: command_line_value(text) for key, text in command_line_texts(argv).items()}
