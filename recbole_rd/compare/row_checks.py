"""Checks of a comparison's planned rows, before any training: each distilled row is the method its name
says, no two rows are one run, no baseline needs sampled negatives the shared split lacks."""

from recbole_rd.compare.plan import parse_distill_methods
from recbole_rd.errors import ConfigError


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


def check_rows(rows):
    """Every check of this module."""
    check_methods_kept(rows)
    check_rows_differ(rows)
    check_negatives(rows)
