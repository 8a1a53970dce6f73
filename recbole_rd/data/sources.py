"""Where each known dataset comes from, and what to say when one is missing. Imports nothing heavy:
the command line answers a missing dataset before torch loads."""

from pathlib import Path

SAMPLE_NAME = "foursquare-sample"  # generated on first use (recbole_rd.data.sample)
RECBOLE_EXAMPLE = "ml-100k"  # shipped inside RecBole's wheel
HOW_TO_GET = {
    "foursquare": (
        "the Foursquare check-ins of Yang et al. (TSMC2014: dataset_TSMC2014_NYC.txt)",
        "python -m recbole_rd.data.convert tsmc2014 dataset_TSMC2014_NYC.txt --dataset foursquare\n"
        "  (a 'user item timestamp' table works too: "
        "python -m recbole_rd.data.convert generic checkins.tsv --dataset foursquare)",
    ),
    "gowalla": (
        "the SNAP Gowalla check-ins (loc-gowalla_totalCheckins.txt)",
        "python -m recbole_rd.data.convert snap-gowalla loc-gowalla_totalCheckins.txt --dataset gowalla",
    ),
    **{hub: (f"RecBole's atomic file {hub}.inter (RecBole dataset hub, RecSysDatasets)",
             f"put it at dataset/{hub}/{hub}.inter (it is read as is; no conversion needed)")
       for hub in ("foursquare_NYC", "foursquare_TKY", "gowalla-merged")},
}


def missing_dataset_message(name, path):
    """What to do when ``path``, the ``.inter`` file of dataset ``name``, does not exist."""
    lines = [f"dataset '{name}' not found: {path} does not exist (recbole_rd never downloads data)."]
    if name in HOW_TO_GET:
        source, command = HOW_TO_GET[name]
        lines += [f"Get {source}, then:", f"  {command}"]
    else:
        lines += ["Put a RecBole atomic file there (columns user_id:token item_id:token timestamp:float),",
                  "or convert a raw dump with: python -m recbole_rd.data.convert --help"]
    lines.append(f"The embedded sample needs nothing: --dataset={SAMPLE_NAME} (or --dataset={RECBOLE_EXAMPLE}).")
    return "\n".join(lines)


def default_inter_file(name):
    """``dataset/<name>/<name>.inter``: where RecBole's default ``data_path`` puts dataset ``name``, or None
    for the datasets found elsewhere (the generated sample, RecBole's example)."""
    return None if name in (SAMPLE_NAME, RECBOLE_EXAMPLE) else Path("dataset") / name / f"{name}.inter"
