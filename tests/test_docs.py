"""The README is a short front door and docs/ stays true behind it: the README is at most 250 lines,
every relative link of the README and docs/*.md reaches a file (and a heading, for an anchor), every
docs page is linked from the README, every test that docs/ names exists, and docs/configuration.md
lists exactly the keys of properties/overall.yaml, properties/distill.yaml and properties/model/*.yaml
with the defaults written there."""

import functools
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PROPERTIES = ROOT / "properties"
MAX_README_LINES = 250

pytestmark = pytest.mark.skipif(not README.is_file() or not DOCS.is_dir(),
                                reason="README.md and docs/ are not installed beside the tests")


def pages():
    return sorted(DOCS.glob("*.md"))


def without_code(text):
    """``text`` with fenced blocks and inline code blanked: links inside code are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def links(path):
    """The targets of the markdown links and images of ``path``."""
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", without_code(path.read_text(encoding="utf-8")))


def relative(target):
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I)  # http:, https:, mailto:, ...


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces become hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slug(heading) for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", text, flags=re.M)}


def test_the_readme_is_a_short_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


@pytest.mark.parametrize("path", [README, *pages()], ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file(path):
    broken = []
    for target in filter(relative, links(path)):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve()
              for target in filter(relative, links(README)) if target.partition("#")[0]}
    assert pages(), "docs/ holds no page"
    assert [page.name for page in pages() if page.resolve() not in linked] == []


def test_every_test_the_docs_name_exists():
    """A renamed or removed test must not leave a safety promise pointing at nothing."""
    named = []
    for path in [README, *pages()]:
        text = path.read_text(encoding="utf-8")
        for block in re.findall(r"`(tests/test_\w+\.py)`((?::\s*(?:`test_\w+`[,\s]*(?:\([^)]*\))?[,\s]*)+)?)", text):
            file, names = block
            named.append((path.name, file, re.findall(r"`(test_\w+)`", names)))
    assert named, "the docs name no test"
    missing = []
    for page, file, names in named:
        source = ROOT / file
        if not source.is_file():
            missing.append(f"{page}: {file}")
            continue
        defined = set(re.findall(r"^\s*def (test_\w+)", source.read_text(encoding="utf-8"), flags=re.M))
        missing += [f"{page}: {file}::{name}" for name in names if name not in defined]
    assert missing == []


# ---------------------------------------------------------------- configuration.md against the YAMLs

def canonical(value):
    """A hashable form of a YAML value in which equal defaults are equal: numbers by value (5 == 5.0),
    booleans apart from numbers, lists in order, mappings whatever their order."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(key), canonical(item)) for key, item in value.items())))
    return (type(value).__name__, value)


def yaml_defaults():
    """key -> set of canonical defaults over properties/overall.yaml, distill.yaml and model/*.yaml."""
    files = [PROPERTIES / "overall.yaml", PROPERTIES / "distill.yaml", *sorted((PROPERTIES / "model").glob("*.yaml"))]
    defaults = {}
    for file in files:
        for key, value in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).items():
            defaults.setdefault(key, set()).add(canonical(value))
    return defaults


def cells(row):
    """The cells of a markdown table row; ``\\|`` is a pipe inside a cell."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def documented_defaults(text):
    """key -> list of canonical defaults, from every table whose header starts with | key | default |.
    The default column's code spans are the defaults (text around them says where each applies)."""
    documented, in_table = {}, False
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        row = cells(line)
        if [cell.lower() for cell in row[:2]] == ["key", "default"]:
            in_table = True
            continue
        if not in_table or set("".join(row)) <= set("-: "):
            continue
        keys = re.findall(r"`([^`]+)`", row[0])
        assert len(keys) == 1, f"one key per row, in backticks: {line}"
        assert keys[0] not in documented, f"{keys[0]} is listed twice"
        spans = re.findall(r"`([^`]*)`", row[1])
        assert spans, f"{keys[0]}: no default in backticks: {line}"
        documented[keys[0]] = [canonical(yaml.safe_load(span)) for span in spans]
    return documented


def test_configuration_lists_exactly_the_keys_of_the_yamls():
    documented = documented_defaults((DOCS / "configuration.md").read_text(encoding="utf-8"))
    expected = yaml_defaults()
    assert sorted(set(expected) - set(documented)) == [], "keys set in properties/ missing from docs/configuration.md"
    assert sorted(set(documented) - set(expected)) == [], "keys in docs/configuration.md that no YAML sets"


def test_configuration_gives_the_defaults_of_the_yamls():
    documented = documented_defaults((DOCS / "configuration.md").read_text(encoding="utf-8"))
    wrong = {key: (sorted(map(str, defaults)), sorted(map(str, documented.get(key, []))))
             for key, defaults in yaml_defaults().items()
             if set(documented.get(key, [])) != defaults or len(documented.get(key, [])) != len(defaults)}
    assert wrong == {}, "key: (YAML defaults, documented defaults)"


def test_the_default_parser_reads_what_the_docs_write():
    """The rendering conventions of docs/configuration.md, as the two tests above read them."""
    row = ("| key | default | meaning |\n| --- | --- | --- |\n"
           "| `a` | `~` | none |\n| `b` | `100` (Caser), `50` (CaserRD) | two |\n| `c` | `False` | bool |\n"
           "| `d` | `[0.7, 0.1, 0.2]` | list |\n| `e` | `{split: {LS: valid_and_test}, order: TO}` | map |\n"
           "| `f` | `0.000001` | tiny |\n| `g` | `NDCG@10` | text with `code` and a \\| pipe |\n")
    assert documented_defaults(row) == {
        "a": [canonical(None)], "b": [canonical(100), canonical(50)], "c": [canonical(False)],
        "d": [canonical([0.7, 0.1, 0.2])], "e": [canonical({"order": "TO", "split": {"LS": "valid_and_test"}})],
        "f": [canonical(1e-6)], "g": [canonical("NDCG@10")]}
    assert canonical(False) != canonical(0) and canonical(10) == canonical(10.0)


def documented_commands():
    """Every ``python run_recbole_rd.py ...`` command of the README and docs/*.md (continued lines joined)."""
    commands = []
    for path in [README, *pages()]:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        commands += [(path.name, line.strip()) for line in text.splitlines()
                     if line.strip().startswith("python run_recbole_rd.py")]
    return commands


@functools.lru_cache(maxsize=None)
def known_keys():
    """The config keys a command line may set: those of this package's YAMLs and of RecBole's."""
    import recbole

    files = [*PROPERTIES.rglob("*.yaml"), *(Path(recbole.__file__).parent / "properties").rglob("*.yaml")]
    keys = set()
    for file in files:
        keys |= set(yaml.safe_load(file.read_text()) or {})
    return keys


@pytest.mark.parametrize("page, command", documented_commands())
def test_every_documented_command_uses_known_flags_and_valid_values(page, command):
    """A typo in a documented command (``--student_size``, ``--epochs=ten``) fails here, not for the reader."""
    import shlex

    from recbole_rd.config_values import check_values, command_line_values
    from recbole_rd.quick_start.cli import build_parser

    words = shlex.split(command.split(" #")[0])[2:]
    flags = {action.dest for action in build_parser()._actions}
    given = [w[2:].split("=", 1)[0] for w in words if w.startswith("--")]
    unknown = [key for key in given if key not in flags and key.rpartition(".")[2] not in known_keys()]
    assert unknown == [], f"{page}: {command}"
    check_values(command_line_values(words))
