"""The generic converter keeps timestamps exact, so RecBole sees each user's true order."""

from pathlib import Path

import pytest

from conftest import tiny_config_dict
from recbole_rd.config import Config
from recbole_rd.data import create_dataset
from recbole_rd.data.convert import ConvertError, convert

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
T0 = 1_333_457_009  # Unix seconds, 2012-04-03T12:43:29Z


def convert_text(tmp_path, text, name="g"):
    src = tmp_path / f"{name}.txt"
    src.write_text(text)
    out, rows = convert("generic", src, name, tmp_path / "dataset")
    lines = out.read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\ttimestamp:float"
    return [line.split("\t") for line in lines[1:]]


def test_unix_seconds_are_written_as_integers(tmp_path):
    rows = convert_text(tmp_path, f"user\titem\tts\n1\t7\t{T0}\n1\t8\t{T0 + 1}\n2\t7\t1700000000\n")
    assert rows == [["1", "7", "1333457009"], ["1", "8", "1333457010"], ["2", "7", "1700000000"]]


def test_decimal_seconds_keep_every_digit_and_no_exponent(tmp_path):
    rows = convert_text(tmp_path, "1,7,1333457009.123456\n1,8,1.333457010E9\n1,9,0.000001\n")
    assert rows == [["1", "7", "1333457009.123456"], ["1", "8", "1333457010"], ["1", "9", "0.000001"]]


def test_milliseconds_become_exact_seconds(tmp_path):
    rows = convert_text(tmp_path, "1 7 1333457009123\n1 8 1333457009124\n1 9 1333457010000\n")
    assert rows == [["1", "7", "1333457009.123"], ["1", "8", "1333457009.124"], ["1", "9", "1333457010"]]


def test_iso_date_times_become_unix_seconds(tmp_path):
    rows = convert_text(tmp_path, "u\ti\twhen\n"
                                  "1\t7\t2012-04-03T18:00:09Z\n"
                                  "1\t8\t2012-04-03 18:00:10\n"          # no zone: UTC
                                  "1\t9\t2012-04-03T20:00:11+02:00\n"    # = 18:00:11 UTC
                                  "1\t10\t2012-04-03T13:30:12.25-0430\n"  # = 18:00:12.25 UTC
                                  "1\t11\t1970-01-01T00:00:00.000000001Z\n")
    # 2012-04-03T18:00:09Z = 15433 days * 86400 + 18 * 3600 + 9 = 1333476009
    assert 15433 * 86400 + 18 * 3600 + 9 == 1333476009
    assert [r[2] for r in rows] == ["1333476009", "1333476010", "1333476011", "1333476012.25", "0.000000001"]


def test_minutes_since_start_are_kept_as_they_are(tmp_path):
    rows = convert_text(tmp_path, "user\titem\tminutes\n1\t3601\t5743\n1\t3788\t7221\n2\t5\t999999.5\n")
    assert rows == [["1", "3601", "5743"], ["1", "3788", "7221"], ["2", "5", "999999.5"]]


@pytest.mark.parametrize("text,line,kinds", [
    ("1\t7\t1333457009\n1\t8\t1333457010123\n", 2, ("Unix milliseconds", "a number below 1e11")),
    ("1\t7\t1333457010123\n1\t8\t1333457009\n", 2, ("a number below 1e11", "Unix milliseconds")),
    ("u\ti\tt\n1\t7\t5743\n1\t8\t7221\n1\t9\t2012-04-03T18:00:09Z\n", 4, ("an ISO-8601 date-time", "a number below 1e11")),
])
def test_mixed_time_formats_are_refused_naming_the_line(tmp_path, text, line, kinds):
    with pytest.raises(ConvertError, match=rf"mixed\.txt, line {line}: timestamp .* is {kinds[0]}.*"
                                           rf"line \d's is {kinds[1]}") as err:
        convert_text(tmp_path, text, name="mixed")
    assert "one format" in str(err.value)
    assert not (tmp_path / "dataset" / "mixed" / "mixed.inter").exists()


def test_invalid_date_time_names_line_and_reason(tmp_path):
    with pytest.raises(ConvertError, match=r"line 2: timestamp '2012-13-03T18:00:09Z' is not a valid date-time "
                                           r"\(month must be in 1..12\)"):
        convert_text(tmp_path, "1\t7\t2012-04-03T18:00:09Z\n1\t8\t2012-13-03T18:00:09Z\n")


def user_sequences(config):
    """Each user's items (original tokens) in the order RecBole's sequential dataset
    trains on them: the augmented rows' windows plus their targets."""
    dataset = create_dataset(config)
    dataset._change_feat_format()  # what build() does first: tensors, sort, augmentation
    feat, uid, iid = dataset.inter_feat, dataset.uid_field, dataset.iid_field
    sequences = {}
    for user, window, length, target in zip(feat[uid].tolist(), feat[iid + "_list"].tolist(),
                                            feat[config["ITEM_LIST_LENGTH_FIELD"]].tolist(), feat[iid].tolist()):
        sequences[dataset.id2token(uid, user)] = [dataset.id2token(iid, i) for i in window[:length] + [target]]
    return sequences


def test_recbole_sees_check_ins_one_second_apart_in_exact_order(tmp_path):
    """Lines in scrambled file order; the times alone decide the order. At 1.33e9 s
    float32 (RecBole's tensors) steps by 128 s and a 6-digit text by 1e4 s: both
    would tie these check-ins and keep the file order."""
    true_order = {"1": [f"a{k}" for k in range(6)], "2": [f"b{k}" for k in range(6)]}
    file_order = [3, 0, 5, 1, 4, 2]
    lines = ["user\titem\ttime"]
    for user, items in true_order.items():
        lines += [f"{user}\t{items[k]}\t{T0 + k}" for k in file_order]
    lines += ["3\tc1\t1333457009123", "3\tc0\t1333457009122"]  # milliseconds: mixed kinds are refused
    with pytest.raises(ConvertError, match="line 14"):
        convert_text(tmp_path, "\n".join(lines) + "\n", name="exact")
    convert_text(tmp_path, "\n".join(lines[:-2]) + "\n", name="exact")
    config = Config("Caser", "exact", config_dict=tiny_config_dict(
        tmp_path, user_inter_num_interval="[0,inf)", item_inter_num_interval="[0,inf)"))
    assert user_sequences(config) == true_order


def test_recbole_sees_milliseconds_and_iso_in_exact_order(tmp_path):
    ms = [1333457009123 + k for k in (2, 0, 1, 3)]  # 1 ms apart, scrambled
    convert_text(tmp_path, "\n".join(f"1\tm{t - 1333457009123}\t{t}" for t in ms) + "\n", name="ms")
    iso = ["2012-04-03T18:00:11Z", "2012-04-03T18:00:09Z", "2012-04-03T20:00:10+02:00", "2012-04-03 18:00:12"]
    convert_text(tmp_path, "\n".join(f"2\ti{k}\t{t}" for k, t in zip((2, 0, 1, 3), iso)) + "\n", name="iso")
    overrides = dict(user_inter_num_interval="[0,inf)", item_inter_num_interval="[0,inf)")
    assert user_sequences(Config("Caser", "ms", config_dict=tiny_config_dict(tmp_path, **overrides))) == {
        "1": ["m0", "m1", "m2", "m3"]}
    assert user_sequences(Config("Caser", "iso", config_dict=tiny_config_dict(tmp_path, **overrides))) == {
        "2": ["i0", "i1", "i2", "i3"]}


@pytest.mark.skipif(not (SHARED / "foursquare-nyc" / "checkins.tsv").is_file(), reason="../shared/data absent")
@pytest.mark.parametrize("name", ["foursquare-nyc", "gowalla-uswest"])
def test_shared_minute_files_convert_to_their_own_numbers(tmp_path, name):
    source = SHARED / name / "checkins.tsv"
    rows = convert_text(tmp_path, source.read_text(), name=name)
    expected = [line.split("\t") for line in source.read_text().splitlines()[1:]]
    assert rows == expected and len(rows) == {"foursquare-nyc": 147_938, "gowalla-uswest": 109_758}[name]
