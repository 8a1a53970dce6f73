"""Any RecBole sequential model as a distilled student: ``<Model>RD`` (``SASRecRD``, ``GRU4RecRD``, ...).

Most RecBole sequential models score item ``j`` for a sequence as
``forward(item_seq, item_seq_len) . item_embedding[j]`` and train with CE over all items or BPR
on one sampled negative. :func:`student_class` wraps such a model, unchanged, in
:class:`RecBoleStudent`, which adds the student interface of ``DistillTrainer``
(``ranking_loss_and_scores``) on top of that one forward pass. Models that do not score this
way are refused with a :class:`~recbole_rd.utils.ConfigError` naming the reason.
"""

import functools
import inspect
import sys
from pathlib import Path

import recbole
import torch
import yaml
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import ModelType
from torch import nn

from recbole_rd.model.abstract_recommender import DistilledStudent
from recbole_rd.recbole_registry import require_plugin_config
from recbole_rd.utils import ConfigError, properties_dir

STUDENT_SUFFIX = "RD"
RECBOLE_MODEL_PROPERTIES = Path(recbole.__file__).resolve().parent / "properties" / "model"
FORWARD_ARGS = ["item_seq", "item_seq_len"]

# calculate_loss is exactly CE over forward . item_embedding.T, or BPR on (target, NEG_ITEM_ID):
# L_R and the distillation scores come from one forward pass (checked by the tests)
ONE_PASS = frozenset({"SASRec", "GRU4Rec", "NARM", "STAMP", "LightSANs", "SRGNN"})

CPR = "its softmax-CPR output layer mixes several projections, not one dot product with the item embedding table"
# structurally plausible models that still cannot be students, and why
REFUSED = {
    "BERT4Rec": "it is trained on masked items (a mask token appended to each sequence) and adds an output "
                "bias to its scores, so its ranking is not forward(item_seq, item_seq_len) . item_embedding",
    "RepeatNet": "its scores are a mixture of repeat and explore probabilities, not a dot product with an "
                 "item embedding table",
    "GRU4RecCPR": CPR,
    "SASRecCPR": CPR,
    "CORE": "it scores with normalised embeddings divided by a temperature and its forward reads no "
            "sequence lengths",
    "GRU4RecKG": "it scores with pre-trained knowledge-graph embeddings next to the item table",
    "KSR": "its scores combine a knowledge-graph memory with the item table",
}


def _refuse(name, why):
    raise ConfigError(f"model: {name}{STUDENT_SUFFIX} is not available: {name} cannot be "
                      f"a distilled student because {why}. Students need a RecBole sequential model that scores "
                      f"forward(item_seq, item_seq_len) . item_embedding, e.g. "
                      f"{', '.join(s + STUDENT_SUFFIX for s in sorted(ONE_PASS))}")


def frozen_scores(student, state, items):
    """``student``'s scores of ``items`` ``[m]`` from its encoded ``state``, without gradients (None for
    no items)."""
    if items is None or items.numel() == 0:
        return None
    with torch.no_grad():
        return student.score_shared(state, items)


def half_teacher_width(final, external, keys):
    """Set each width key of ``keys`` the user did not give (``external``) to half of the checked
    ``teacher_embedding_size`` in the resolved config ``final``."""
    teacher = final.get("teacher_embedding_size")
    if not isinstance(teacher, int) or isinstance(teacher, bool) or teacher < 2:
        raise ConfigError(f"teacher_embedding_size: must be an integer >= 2 (the teacher's {' and '.join(keys)}), "
                          f"got {teacher!r}")
    for key in keys:
        if key not in external:
            final[key] = teacher // 2


def recbole_yaml(base):
    """RecBole's YAML of ``base`` or of the nearest RecBole model it derives from (or None)."""
    for klass in base.__mro__:
        path = RECBOLE_MODEL_PROPERTIES / f"{klass.__name__}.yaml"
        if path.is_file():
            return path
    return None


def recbole_size_key(base):
    """The config key of ``base``'s item-embedding width: ``embedding_size`` when its RecBole
    YAML has one (GRU4Rec, NARM, STAMP, SRGNN, ...), else ``hidden_size`` (SASRec, LightSANs, ...)."""
    path = recbole_yaml(base)
    keys = (yaml.safe_load(path.read_text()) or {}) if path is not None else {}
    for key in ("embedding_size", "hidden_size"):
        if key in keys:
            return key
    _refuse(base.__name__, "no RecBole YAML of it names an embedding_size or hidden_size to size the student by")


def check_base(base):
    """Refuse, with the reason, a model class that cannot be adapted (before anything is trained)."""
    if not (isinstance(base, type) and issubclass(base, SequentialRecommender)
            and base.type == ModelType.SEQUENTIAL):
        _refuse(base.__name__, "it is not a sequential model (a student reads each user's item sequence)")
    if base.__name__ in REFUSED:
        _refuse(base.__name__, REFUSED[base.__name__])
    args = list(inspect.signature(base.forward).parameters)[1:]
    if args != FORWARD_ARGS:
        _refuse(base.__name__, f"its forward takes ({', '.join(args)}), not (item_seq, item_seq_len)")


class RecBoleStudent(DistilledStudent):
    """Student interface on top of a RecBole sequential model (placed before it in the MRO).

    The model itself is unchanged (``forward``, ``calculate_loss``, ``predict``,
    ``full_sort_predict``). Added: ``encode`` (the sequence state), ``score``,
    ``score_shared``, ``score_all`` (dot products with ``item_embedding``) and
    :meth:`ranking_loss_and_scores`, the one method distillation methods call besides
    ``full_sort_predict`` and ``n_items``.
    Config keys: those of the RecBole model; its size key (``size_key``) is the student's
    width, by default half of ``teacher_embedding_size``; the distillation keys of
    ``properties/distill.yaml``; ``properties/model/RecBoleStudent.yaml``.
    """

    teacher_model = None
    size_key = None
    one_pass = False
    properties_files = ()

    def __init__(self, config, dataset):
        require_plugin_config(config, type(self).__name__)
        super().__init__(config, dataset)
        table = getattr(self, "item_embedding", None)
        if not isinstance(table, nn.Embedding) or table.num_embeddings != self.n_items:
            _refuse(self.teacher_model, f"it has no item_embedding table of {self.n_items} rows")
        if not scores_are_dot_products(self):
            _refuse(self.teacher_model, "its full_sort_predict is not forward(item_seq, item_seq_len) . item_embedding")

    @classmethod
    def complete_config(cls, final, external):
        """Called by :class:`recbole_rd.config.Config`: the student's width ``size_key`` is half
        of ``teacher_embedding_size`` unless given explicitly."""
        half_teacher_width(final, external, (cls.size_key,))

    def encode(self, interaction):
        """``[B, d]`` sequence state: the RecBole model's ``forward``."""
        return self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])

    def score(self, state, items):
        """``[B, n]`` scores of ``items`` ``[B, n]``."""
        return (state.unsqueeze(1) * self.item_embedding(items)).sum(-1)

    def score_shared(self, state, items):
        """``[B, n]`` scores of the same ``items`` ``[n]`` for every row (one matrix product)."""
        return state @ self.item_embedding(items).T

    def score_all(self, state):
        """``[B, n_items]`` scores of every item, as ``full_sort_predict``."""
        return state @ self.item_embedding.weight.T

    def ranking_loss(self, state, interaction, items):
        """The model's own ``calculate_loss`` from ``state``, and the scores of ``items``."""
        pos = interaction[self.POS_ITEM_ID]
        if self.loss_type == "BPR":
            both = torch.stack([pos, interaction[self.NEG_ITEM_ID]], 1)
            scores = self.score(state, torch.cat([both, items], 1))
            return self.loss_fct(scores[:, 0], scores[:, 1]), scores[:, 2:]
        logits = self.score_all(state)
        return self.loss_fct(logits, pos), logits.gather(1, items)

    def ranking_loss_and_scores(self, interaction, items, frozen_items=None):
        """``(L_R, scores of items, scores of frozen_items)``.

        ``items`` ``[B, n]`` are scored with gradients; ``frozen_items`` ``[m]``, the same for
        every row (or None), without. For the models of ``ONE_PASS`` everything comes from one
        forward pass; any other model adds its own ``calculate_loss`` (extra terms included)
        to a second forward pass for the scores.
        """
        if self.one_pass:
            state = self.encode(interaction)
            loss, scores = self.ranking_loss(state, interaction, items)
        else:
            loss = self.calculate_loss(interaction)
            state = self.encode(interaction)
            scores = self.score(state, items)
        return loss, scores, frozen_scores(self, state, frozen_items)


def scores_by_item_embedding(model):
    """Whether RecBole sequential model ``model`` scores items as
    ``forward(item_seq, item_seq_len) . item_embedding`` (structure, then a probe batch)."""
    table = getattr(model, "item_embedding", None)
    return (isinstance(table, nn.Embedding) and table.num_embeddings == model.n_items
            and type(model).__name__ not in REFUSED
            and list(inspect.signature(model.forward).parameters) == FORWARD_ARGS
            and scores_are_dot_products(model))


@torch.no_grad()
def scores_are_dot_products(model, rows=2):
    """Whether ``full_sort_predict`` equals ``forward . item_embedding.T`` on a probe batch
    (eval mode, random-number state untouched)."""
    device = model.item_embedding.weight.device
    length = model.max_seq_length
    seq = torch.arange(rows * length, device=device).view(rows, length) % (model.n_items - 1) + 1
    lengths = torch.tensor([max(1, length // (r + 1)) for r in range(rows)], device=device)
    seq[torch.arange(length, device=device) >= lengths.unsqueeze(1)] = 0
    probe = Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lengths,
                         model.USER_ID: torch.ones(rows, dtype=torch.long, device=device)})
    training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            expected = model.forward(seq, lengths) @ model.item_embedding.weight.T
            got = model.full_sort_predict(probe).view(rows, -1)
        return got.shape == expected.shape and bool(torch.allclose(got, expected, rtol=1e-4, atol=1e-5))
    except (RuntimeError, KeyError, IndexError, ValueError, TypeError):
        return False
    finally:
        model.train(training)


@functools.cache
def student_class(base):
    """The distilled-student class of RecBole sequential model ``base`` (``SASRec`` ->
    ``SASRecRD``), always the same class for the same ``base``; ConfigError if it cannot be one."""
    check_base(base)
    name = f"{base.__name__}{STUDENT_SUFFIX}"
    cls = type(name, (RecBoleStudent, base), {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{base.__name__} trained as a Ranking Distillation student (see RecBoleStudent).",
        "teacher_model": base.__name__,
        "size_key": recbole_size_key(base),
        "one_pass": base.__name__ in ONE_PASS and base.__module__.startswith("recbole.model."),
        "properties_files": (recbole_yaml(base), properties_dir() / "model" / "RecBoleStudent.yaml"),
    })
    setattr(sys.modules[__name__], name, cls)  # importable by name, like a written class
    return cls
