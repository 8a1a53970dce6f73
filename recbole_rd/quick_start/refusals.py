"""A RecBole refusal of a user's setting (a ``ValueError`` raised inside RecBole while it reads the
configuration or builds a model) becomes this package's :class:`ConfigError` naming the setting."""

import traceback
from contextlib import contextmanager

import yaml

from recbole_rd.config import Config, config_beside
from recbole_rd.errors import ConfigError, RecBoleRDError

# what RecBole raises on a bad user setting while it reads the configuration or builds a model
REFUSALS = (ValueError, KeyError, TypeError, SyntaxError, NotImplementedError, OSError, yaml.YAMLError)


def raised_by_recbole(err):
    """Whether the innermost frame of ``err`` that belongs to recbole or recbole_rd is RecBole's."""
    frames = [frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(err.__traceback__)]
    ours = [name for name in frames if name.split(".")[0] in ("recbole", "recbole_rd")]
    return bool(ours) and ours[-1].split(".")[0] == "recbole"


@contextmanager
def refusals_as_config_errors(what):
    """Turn RecBole's refusal of a setting (a ``ValueError`` etc. raised inside RecBole) into a
    :class:`ConfigError` naming ``what``; errors from anywhere else keep their traceback."""
    try:
        yield
    except RecBoleRDError:
        raise
    except REFUSALS as err:
        if not raised_by_recbole(err):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise ConfigError(f"{what}: {message}") from None


def build_config(model=None, dataset=None, config_file_list=None, config_dict=None, reads_command_line=True):
    """:class:`recbole_rd.config.Config`; what RecBole refuses becomes a :class:`ConfigError`."""
    with refusals_as_config_errors("invalid configuration"):
        return Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict,
                      reads_command_line=reads_command_line)


def build_config_beside(config, model, settings=None, shared_keys=()):
    """:func:`recbole_rd.config.config_beside`; what RecBole refuses becomes a :class:`ConfigError`."""
    with refusals_as_config_errors("invalid configuration"):
        return config_beside(config, model, settings, shared_keys)
