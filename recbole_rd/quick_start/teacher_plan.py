"""The teacher of a distilled student: its config (the student's base model at teacher size, or another
architecture beside the student), trained first unless a checkpoint is given."""

from logging import getLogger

from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.config import package_default_keys
from recbole_rd.distill.base import build_method
from recbole_rd.distill.user_teacher import ranks_users
from recbole_rd.errors import ConfigError
from recbole_rd.key_lists import TEACHER_TAKES_FROM_STUDENT
from recbole_rd.model.abstract_recommender import is_student
from recbole_rd.model.general_recommender.recbole_general_student import ranking_room
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start.refusals import build_config_beside
from recbole_rd.quick_start.training import train_and_test
from recbole_rd.utils import size_key


def ensure_teacher(config, train_data, valid_data, test_data, teacher=None):
    """The teacher of distilled student ``config``: ``(checkpoint path, teacher result)``.

    Checks the student's distillation keys first (before any training). With ``teacher_checkpoint``
    set, that checkpoint is used and the result is None; else the teacher is trained and tested on
    the same data (:func:`train_and_test`, its ``trainer`` included) and ``config['teacher_checkpoint']``
    is set to it. ``teacher``: the teacher's config (default :func:`teacher_config` of ``config``).
    A ``resume_from`` holding the teacher's model (an interrupted teacher's ``.last``) resumes the
    teacher, and the student starts afresh.
    ``(None, None)`` for a model that is no student.
    """
    if teacher_model_name(config) is None:
        return None, None
    dataset = train_data._dataset
    build_method(config, dataset.item_num, ranking_room(dataset) if ranks_users(config) else None)  # as the trainer will
    if config["teacher_rankings"]:  # the teacher's rankings are given as a file: no teacher model
        return None, None
    if config["teacher_checkpoint"]:
        return config["teacher_checkpoint"], None
    getLogger().info("No teacher_checkpoint given: training the teacher first")
    teacher = teacher or teacher_config(config)
    resume = config["resume_from"]
    resumes_teacher = bool(resume) and load_checkpoint(resume).get("model") == teacher["model"]
    teacher["resume_from"] = resume if resumes_teacher else None  # a resume_from is the teacher's or the student's
    if resumes_teacher:
        config["resume_from"] = None
    teacher = train_and_test(teacher, train_data, valid_data, test_data, tag="teacher")
    config["teacher_checkpoint"] = teacher["checkpoint"]
    return teacher["checkpoint"], teacher


def teacher_model_name(config):
    """The teacher's model for distilled student ``config``: the config key ``teacher_model``, by
    default the student class's ``teacher_model`` (its base model); None for a model that is no student."""
    student = config.model_class
    base = student.teacher_model if is_student(student) else None
    return (config["teacher_model"] or base) if base else None


def teacher_config(config, settings=None):
    """Config of the teacher of distilled student ``config``, at teacher size: the size key of the
    teacher's class (``size_key``, else ``embedding_size``/``hidden_size``) is ``teacher_embedding_size``;
    ``settings``: the teacher row's own (per-row overrides of a comparison).

    The teacher is ``teacher_model`` (config key; default: the student class's ``teacher_model``).
    The student's own base model is a :func:`family_config`; another architecture (e.g. a SASRec
    teacher for CaserRD) a :func:`sibling_config` taking the student's :data:`TEACHER_TAKES_FROM_STUDENT`
    keys (same split, windows, evaluation and budget).
    """
    student_class = config.model_class
    name = teacher_model_name(config)
    settings = settings or {}
    if get_model(name) is get_model(student_class.teacher_model):
        widths = {key: config["teacher_embedding_size"] for key in width_keys(student_class)}
        return family_config(name, config, {**widths, **settings})
    refuse_other_training_data(name, student_class)
    teacher = sibling_config(name, config, TEACHER_TAKES_FROM_STUDENT, settings)
    if str(teacher["loss_type"]).upper() == "BPR":
        raise ConfigError(f"teacher_model: {name} with loss_type BPR needs sampled negatives, which the "
                          f"student's training data has none of; pass --loss_type=CE or another teacher_model")
    key = size_key(get_model(name), teacher)
    if key is None or key in settings:
        return teacher
    return sibling_config(name, config, TEACHER_TAKES_FROM_STUDENT, {key: config["teacher_embedding_size"], **settings})


def check_teacher_model(config):
    """Before any data is read: the teacher a general student's ``config`` would train here must read
    the student's training data (:func:`refuse_other_training_data`)."""
    name = teacher_model_name(config)
    if name and ranks_users(config) and not config["teacher_checkpoint"] and not config["teacher_rankings"]:
        refuse_other_training_data(name, config.model_class)


ROWS_READ = {"PAIRWISE": "(user, item, sampled negative) pairs", "POINTWISE": "labelled (user, item) rows"}


def rows_read(model_class):
    """What ``model_class`` trains on, in words (:data:`ROWS_READ`; another input type by its name)."""
    name = getattr(getattr(model_class, "input_type", None), "name", "unknown input")
    return ROWS_READ.get(name, f"{name.lower()} rows")


def refuse_other_training_data(name, student_class):
    """A teacher trained here reads the general student's training data (BPR, LightGCN: pairs with a
    sampled negative; NeuMF: labelled rows): refuse ``teacher_model`` ``name`` when it reads another kind."""
    from recbole.utils import ModelType

    base, teacher = get_model(student_class.teacher_model), get_model(name)
    if base.type != ModelType.GENERAL or getattr(teacher, "input_type", None) == base.input_type:
        return
    if teacher.type == ModelType.SEQUENTIAL:
        raise ConfigError(f"teacher_model: {name} is a sequential model, and a general student learns from a "
                          f"teacher's ranking per user; pass a general model (BPR, LightGCN, NeuMF, ...) or the "
                          f"rankings as a file (teacher_rankings)")
    raise ConfigError(f"teacher_model: {name} trains on {rows_read(teacher)} and {base.__name__} "
                      f"on {rows_read(base)}, and a teacher trained here reads the student's training "
                      f"data; train it alone (python run_recbole_rd.py --model={name} --dataset=...) and pass its "
                      f"checkpoint with --teacher_checkpoint=saved/{name}-....pth")


def width_keys(student_class):
    """The width keys of a student class: its ``size_keys`` (NeuMF: both embedding widths), else its
    ``size_key``, else ``embedding_size``."""
    return getattr(student_class, "size_keys", None) or (getattr(student_class, "size_key", None) or "embedding_size",)


def sibling_config(name, config, shared_keys, settings=None):
    """A fresh :class:`Config` of model ``name`` beside run ``config`` (another teacher, a baseline):
    ``name``'s own properties, the user's settings of ``config``, the values of ``config`` at
    ``shared_keys``, no sampled negatives (the training data is shared), then ``settings``."""
    return build_config_beside(config, name, {"train_neg_sample_args": None, **(settings or {})}, shared_keys)


def family_config(name, config, settings=None):
    """A fresh :class:`Config` of ``name``, the base model of distilled student ``config`` (its teacher
    of the same architecture, the student trained alone): trained as the student is trained, it takes
    the student's values of :func:`package_default_keys` and :data:`TEACHER_TAKES_FROM_STUDENT` (its
    sampled negatives follow from the user's settings, as the student's do), then ``settings``."""
    shared = [key for key in (*package_default_keys(), *TEACHER_TAKES_FROM_STUDENT) if key != "train_neg_sample_args"]
    return build_config_beside(config, name, settings, shared)
