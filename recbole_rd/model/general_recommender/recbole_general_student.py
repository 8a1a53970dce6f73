"""Any RecBole general recommender that scores a (user, item) pair from their representations as a
distilled student: ``<Model>RD`` (``BPRRD``, ``NeuMFRD``, ``LightGCNRD``, ...).

:func:`general_student_class` wraps the unchanged RecBole model in :class:`RecBoleGeneralStudent`, which
adds the student interface of ``DistillTrainer`` (``ranking_loss_and_scores``): L_R is the model's own
``calculate_loss``, and the teacher's items are scored by the model's
:class:`~recbole_rd.model.general_recommender.block_scoring.Scoring` (the teacher's per-user top-N pass
uses the same). Models it cannot serve are refused with a :class:`~recbole_rd.utils.ConfigError` naming
the reason.
"""

import functools
import sys

import torch
from recbole.utils import ModelType

from recbole_rd.model.abstract_recommender import DistilledStudent
from recbole_rd.model.general_recommender.block_scoring import SCORINGS, scores_match_full_sort, served_base
from recbole_rd.model.sequential_recommender.recbole_student import (STUDENT_SUFFIX, frozen_scores, half_teacher_width,
                                                                  recbole_yaml)
from recbole_rd.recbole_registry import require_plugin_config
from recbole_rd.utils import ConfigError, properties_dir

# the keys of each served model's width (its scores: block_scoring.SCORINGS)
SIZE_KEYS = {
    "BPR": ("embedding_size",),
    "LightGCN": ("embedding_size",),
    "NGCF": ("embedding_size",),
    "DGCF": ("embedding_size",),
    "NeuMF": ("mf_embedding_size", "mlp_embedding_size"),
}
HISTORY = ("it scores a user from the items of the user's history (no user representation the adapter can "
           "score items against in blocks)")
WHOLE_ROW = "it reconstructs each user's whole row of the interaction matrix (an autoencoder, not pair scores)"
REFUSED = {
    "NCL": "it trains with its own NCLTrainer (clustering every epoch), which the distillation trainer replaces",
    "SGL": "its forward propagates over augmented graphs redrawn every epoch",
    "SimpleX": HISTORY, "FISM": HISTORY, "NAIS": HISTORY,
    "SpectralCF": "RecBole 1.2.1 builds its graph with scipy's dok_matrix._update, which scipy 1.13 removed "
                  "(RecBole issue #2034; this package fixes LightGCN and NGCF only)",
    "ENMF": "it trains on the whole interaction matrix (no sampled pairs), not on batches of pairs",
    "MultiVAE": WHOLE_ROW, "MultiDAE": WHOLE_ROW, "MacridVAE": WHOLE_ROW, "RecVAE": WHOLE_ROW, "CDAE": WHOLE_ROW,
    "RaCT": WHOLE_ROW, "DiffRec": WHOLE_ROW, "LDiffRec": WHOLE_ROW,
}
NOT_TRAINED = ("it is not trained by gradient descent (a counted or closed-form model), so there is no loss to "
               "add distillation to")


def _refuse(name, why):
    raise ConfigError(f"model: {name}{STUDENT_SUFFIX} is not available: {name} cannot be a distilled student "
                      f"because {why}. General students: {', '.join(n + STUDENT_SUFFIX for n in SCORINGS)}; "
                      f"sequential ones: any RecBole sequential model scoring forward . item_embedding "
                      f"(SASRecRD, GRU4RecRD, ...)")


def check_base(base):
    """Refuse, with the reason, a model class that cannot be a general student (before anything is trained)."""
    name = base.__name__
    if not isinstance(base, type) or base.type not in (ModelType.GENERAL, ModelType.TRADITIONAL):
        _refuse(name, f"it is a {getattr(base.type, 'name', base.type).lower()} model, neither general nor sequential")
    if base.type == ModelType.TRADITIONAL:
        _refuse(name, NOT_TRAINED)
    if served_base(base) is None:
        _refuse(name, REFUSED.get(name, "the adapter does not know how it scores users against items in blocks"))


def ranking_room(dataset):
    """The most items every user can be ranked: all real items but the heaviest user's training items."""
    return dataset.item_num - 1 - int(dataset.inter_matrix(form="csr").getnnz(axis=1).max())


class RecBoleGeneralStudent(DistilledStudent):
    """Student interface on top of a RecBole general model (placed before it in the MRO).

    The model itself is unchanged (``forward``, ``calculate_loss``, ``predict``, ``full_sort_predict``).
    Added: ``ranking_loss_and_scores`` (L_R and the scores of the teacher's items), ``score``,
    ``score_shared``, ``score_all`` and ``ranking_room`` (the most items each user's teacher ranking can
    hold: the catalogue less the heaviest user's training items).
    Config keys: those of the RecBole model; its size keys (``size_keys``) are the student's width, each
    by default half of ``teacher_embedding_size``; the distillation keys of ``properties/distill.yaml``;
    ``properties/model/RecBoleGeneralStudent.yaml``.
    """

    teacher_model = None
    size_key = None
    size_keys = ()
    scoring = None
    properties_files = ()

    def __init__(self, config, dataset):
        require_plugin_config(config, type(self).__name__)
        super().__init__(config, dataset)
        self.ranking_room = ranking_room(dataset)
        self.scores_checked = False  # on the first batch, once the model is on its device

    def check_scores(self):
        """Refuse a model whose full ranking is not its :class:`Scoring`'s (e.g. a subclass changing it)."""
        if not scores_match_full_sort(self, self.scoring):
            _refuse(type(self).__name__[:-len(STUDENT_SUFFIX)],
                    f"its full_sort_predict is not the {served_base(type(self))} scoring the adapter computes")
        self.scores_checked = True

    @classmethod
    def complete_config(cls, final, external):
        """Called by :class:`recbole_rd.config.Config`: each size key is half of ``teacher_embedding_size``
        unless given explicitly."""
        half_teacher_width(final, external, cls.size_keys)

    def encode(self, interaction):
        return self.scoring.encode(self, interaction[self.USER_ID], self.scoring.tables(self))

    def score(self, state, items):
        """``[B, n]`` scores of ``items`` ``[B, n]``."""
        return self.scoring.score(self, state, items)

    def score_shared(self, state, items):
        """``[B, m]`` scores of the same ``items`` ``[m]`` for every row."""
        return self.scoring.score_shared(self, state, items)

    def score_all(self, state):
        """``[B, n_items]`` scores of every item."""
        return self.score_shared(state, torch.arange(self.n_items, device=self.device))

    def ranking_loss_and_scores(self, interaction, items, frozen_items=None):
        """``(L_R, scores of items, scores of frozen_items)``: L_R is the model's own ``calculate_loss``;
        ``items`` ``[B, n]`` are scored with gradients, ``frozen_items`` ``[m]`` (or None) without. Graph
        models propagate once for both."""
        if not self.scores_checked:
            self.check_scores()
        with self.scoring.one_pass(self):
            loss = self.calculate_loss(interaction)
            state = self.encode(interaction)
        scores = self.score(state, items)
        return loss, scores, frozen_scores(self, state, frozen_items)


@functools.cache
def general_student_class(base):
    """The distilled-student class of RecBole general model ``base`` (``BPR`` -> ``BPRRD``), always the
    same class for the same ``base``; ConfigError if it cannot be one."""
    check_base(base)
    name = f"{base.__name__}{STUDENT_SUFFIX}"
    served = served_base(base)
    scoring, size_keys = SCORINGS[served], SIZE_KEYS[served]
    cls = type(name, (RecBoleGeneralStudent, base), {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{base.__name__} trained as a Ranking Distillation student (see RecBoleGeneralStudent).",
        "teacher_model": base.__name__,
        "size_key": size_keys[0],
        "size_keys": size_keys,
        "scoring": scoring,
        "properties_files": (recbole_yaml(base), properties_dir() / "model" / "RecBoleGeneralStudent.yaml"),
    })
    setattr(sys.modules[__name__], name, cls)  # importable by name, like a written class
    return cls
