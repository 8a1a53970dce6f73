from pathlib import Path

import pytest

from recbole_rd.data.convert import ConvertError, convert, main as convert_main
from recbole_rd.data.dataset import DatasetError
from recbole_rd.data.sample import generate_checkins
from recbole_rd.quick_start import prepare, run_recbole_rd
from conftest import TINY, tiny_config_dict, write_tiny
from recbole_rd.config import Config
from recbole_rd.data import create_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def read_rows(path):
    lines = Path(path).read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\ttimestamp:float"
    return [line.split("\t") for line in lines[1:]]


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_snap_gowalla_lines_convert_with_epoch_seconds(tmp_path):
    src = write(tmp_path, "snap.txt", "0\t2010-10-19T23:55:27Z\t30.23\t-97.79\t22847\n"
                                      "0\t2010-10-18T22:17:43Z\t30.26\t-97.75\t420315\n")
    out, rows = convert("snap-gowalla", src, "gowalla", tmp_path / "dataset")
    assert rows == 2 and out == tmp_path / "dataset" / "gowalla" / "gowalla.inter"
    assert read_rows(out) == [["0", "22847", "1287532527"], ["0", "420315", "1287440263"]]


def test_tsmc2014_latin1_lines_convert(tmp_path):
    text = ("470\t49bbd6c0f964a520f4531fe3\t4bf58dd8d48988d127951735\tArts & Crafts Store\t40.71\t-74.00\t-240\t"
            "Tue Apr 03 18:00:09 +0000 2012\n"
            "979\t4a43c0aef964a520c6a61fe3\t4bf58dd8d48988d1df941735\tBridge \xe9\t40.60\t-74.04\t-240\t"
            "Tue Apr 03 18:00:25 +0000 2012\n")
    out, rows = convert("tsmc2014", write(tmp_path, "nyc.txt", text, "latin-1"), "foursquare", tmp_path)
    assert read_rows(out) == [["470", "49bbd6c0f964a520f4531fe3", "1333476009"],
                              ["979", "4a43c0aef964a520c6a61fe3", "1333476025"]]


def test_foursquare_global_lines_convert(tmp_path):
    src = write(tmp_path, "g.txt", "50756\t4f5e3a72e4b053fd6a4313f6\tTue Apr 03 18:17:18 +0000 2012\t240\n")
    out, _ = convert("foursquare-global", src, "fsq", tmp_path)
    assert read_rows(out) == [["50756", "4f5e3a72e4b053fd6a4313f6", "1333477038"]]


@pytest.mark.parametrize("text,delimiter", [("user\titem\tminutes\n1\t7\t0\n1\t9\t15.5\n", None),
                                            ("1,7,0\n1,9,15.5\n", None),
                                            ("1 7 0\n1 9 15.5\n", None),
                                            ("1|7|0\n1|9|15.5\n", "|")])
def test_generic_tables_with_or_without_header(tmp_path, text, delimiter):
    out, rows = convert("generic", write(tmp_path, "t.txt", text), "g", tmp_path, delimiter)
    assert rows == 2 and read_rows(out) == [["1", "7", "0"], ["1", "9", "15.5"]]


def test_caser_text_keeps_line_order_as_time(tmp_path):
    out, _ = convert("caser-text", write(tmp_path, "c.txt", "3 10 1\n3 4 1\n\n5 10 1\n"), "c", tmp_path)
    assert read_rows(out) == [["3", "10", "1"], ["3", "4", "2"], ["5", "10", "4"]]


@pytest.mark.parametrize("fmt,text,message", [
    ("snap-gowalla", "0\t2010-10-19T23:55:27Z\t30.2\t-97.7\t1\n0\tyesterday\t1\t2\t3\n", r"line 2: .*yesterday"),
    ("snap-gowalla", "0\t2010-10-19T23:55:27Z\n", r"line 1: expected at least 5 columns, found 2"),
    ("generic", "u\ti\tt\n1\t2\t3\n1\t2\tnoon\n", r"line 3: timestamp 'noon' is neither a number nor an ISO"),
    ("tsmc2014", "", r"no interactions found"),
])
def test_bad_input_names_file_line_and_problem_and_writes_nothing(tmp_path, fmt, text, message):
    src = write(tmp_path, "bad.txt", text)
    with pytest.raises(ConvertError, match=message) as err:
        convert(fmt, src, "bad", tmp_path / "out")
    assert "bad.txt" in str(err.value)
    assert not (tmp_path / "out" / "bad" / "bad.inter").exists()
    assert list((tmp_path / "out" / "bad").glob("*")) == []


def test_failed_conversion_keeps_the_previous_output(tmp_path, capsys):
    good = write(tmp_path, "good.txt", "1\t2\t3\n")
    out, _ = convert("generic", good, "d", tmp_path)
    bad = write(tmp_path, "bad.txt", "1\t2\t3\n1\t2\tx\n")
    assert convert_main(["generic", str(bad), "--dataset", "d", "--out", str(tmp_path)]) == 2
    assert "line 2" in capsys.readouterr().err
    assert read_rows(out) == [["1", "2", "3"]]


def test_missing_foursquare_says_which_file_and_command(tmp_path):
    with pytest.raises(DatasetError) as err:
        prepare("Caser", "foursquare", config_dict=tiny_config_dict(tmp_path))
    text = str(err.value)
    assert "dataset 'foursquare' not found" in text and "never downloads" in text
    assert "python -m recbole_rd.data.convert tsmc2014 dataset_TSMC2014_NYC.txt --dataset foursquare" in text


def cli_without_gowalla(background):
    """``run_recbole_rd.py --dataset=gowalla`` with a data_path that has no gowalla: the completed run."""
    import sys

    script = Path(__file__).resolve().parents[1] / "run_recbole_rd.py"
    folder = background.folder("no-gowalla")
    return background.run([sys.executable, str(script), "--model=Caser", "--dataset=gowalla",
                           f"--data_path={folder}"], cwd=folder, timeout=300)


def test_cli_prints_the_helpful_message_not_a_traceback(background):
    proc = background.result(cli_without_gowalla)
    assert proc.returncode == 2
    assert "snap-gowalla loc-gowalla_totalCheckins.txt --dataset gowalla" in proc.stderr
    assert "Traceback" not in proc.stderr


def assert_refused(tmp_path, name, inter_text, match):
    folder = tmp_path / "dataset" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.inter").write_text(inter_text)
    with pytest.raises(DatasetError, match=match):
        prepare("Caser", name, config_dict=tiny_config_dict(tmp_path))


def test_empty_file_and_missing_columns_are_reported(tmp_path):
    assert_refused(tmp_path, "empty", "user_id:token\titem_id:token\ttimestamp:float\n", "empty")
    assert_refused(tmp_path, "nocol", "user_id:token\tvenue:token\ttimestamp:float\n1\t2\t3\n",
                   r"lacks column\(s\) \['item_id'\]")


def test_load_col_without_the_time_column_is_reported(tiny):
    from recbole_rd.utils import ConfigError

    with pytest.raises(ConfigError, match=r"load_col: its 'inter' list \['user_id', 'item_id'\] leaves out "
                                          r"\['timestamp'\], which Caser needs; add them: --load_col=\""
                                          r"\{'inter': \['user_id', 'item_id', 'timestamp'\]\}\""):
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, load_col={"inter": ["user_id", "item_id"]}))


def test_sample_is_seeded_and_generated_when_absent(tmp_path):
    users, items, times = generate_checkins(n_users=50, n_items=70, seed=1)
    again = generate_checkins(n_users=50, n_items=70, seed=1)
    assert (items == again[1]).all() and (times == again[2]).all()
    config = tiny_config_dict(tmp_path, epochs=1)
    config["data_path"] = str(tmp_path / "dataset")
    prepare("Caser", "foursquare-sample", config_dict=config)
    rows = read_rows(tmp_path / "dataset" / "foursquare-sample" / "foursquare-sample.inter")
    users, items, times = generate_checkins()  # the sample's defaults
    assert rows == [[str(u), str(i), str(t)] for u, i, t in zip(users, items, times)]


@pytest.mark.skipif(not (SHARED / "foursquare-nyc" / "checkins.tsv").is_file(), reason="../shared/data absent")
def test_real_foursquare_nyc_converts_and_trains(tmp_path):
    out, rows = convert("generic", SHARED / "foursquare-nyc" / "checkins.tsv", "foursquare", tmp_path / "dataset")
    assert rows == 147_938
    result = run_recbole_rd("Caser", "foursquare", config_dict=tiny_config_dict(
        tmp_path, epochs=1, embedding_size=16, train_batch_size=512, eval_batch_size=4096))
    assert result["test_result"]["hit@10"] > 0.05


def test_non_numeric_timestamps_and_too_long_window_are_reported(tmp_path):
    from recbole_rd.utils import ConfigError

    assert_refused(tmp_path, "badtime", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\tmonday\n",
                   "could not read dataset 'badtime'")
    write_tiny(tmp_path, name="short", min_len=4, max_len=6)
    with pytest.raises(ConfigError, match="L: window 8 is longer than every training history"):
        run_recbole_rd("Caser", "short", config_dict=tiny_config_dict(tmp_path, L=8, user_inter_num_interval="[0,inf)"))


HUB_FILES = {  # RecBole's hub atomic files: header and item field
    "foursquare_NYC": ("user_id:token\tvenue_id:token\ttimezone_offset:float\ttimestamp:float\tclick_times:float",
                       "venue_id"),
    "foursquare_TKY": ("user_id:token\tvenue_id:token\ttimezone_offset:float\ttimestamp:float\tclick_times:float",
                       "venue_id"),
    "gowalla-merged": ("user_id:token\titem_id:token\ttimestamp:float\tlatitude:float\tlongitude:float\t"
                       "num_repeat:float", "item_id"),
}


@pytest.mark.parametrize("name", sorted(HUB_FILES))
def test_recbole_hub_files_load_with_their_own_columns(tmp_path, name):
    header, item_field = HUB_FILES[name]
    users, items, times = generate_checkins(**TINY)
    extra = {"timezone_offset": -240, "click_times": 1, "latitude": 40.7, "longitude": -74.0, "num_repeat": 1}
    rows = []
    for u, i, t in zip(users.tolist(), items.tolist(), times.tolist()):
        values = {"user_id": u, item_field: i, "timestamp": t, **extra}
        rows.append("\t".join(str(values[col.split(":")[0]]) for col in header.split("\t")))
    folder = tmp_path / "dataset" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.inter").write_text(header + "\n" + "\n".join(rows) + "\n")
    config_dict = tiny_config_dict(tmp_path, epochs=1, user_inter_num_interval="[0,inf)",
                                   item_inter_num_interval="[0,inf)")
    del config_dict["load_col"]  # the dataset's own YAML says which columns to read

    config = Config("Caser", name, config_dict=config_dict)
    dataset = create_dataset(config)
    assert config["ITEM_ID_FIELD"] == item_field and dataset.iid_field == item_field
    assert dataset.inter_num == len(rows) and dataset.user_num == len(set(users.tolist())) + 1
    assert "click_times" not in dataset.inter_feat.columns and "num_repeat" not in dataset.inter_feat.columns
    result = run_recbole_rd("Caser", name, config_dict=config_dict)
    write_tiny(tmp_path, name="plain")  # the same check-ins as a plain user/item/timestamp file
    plain = run_recbole_rd("Caser", "plain", config_dict={**config_dict, "load_col": None})
    assert result["test_result"] == plain["test_result"] and result["test_result"]["hit@10"] > 0


# the command-line run in a fresh interpreter, started when the session starts (conftest.Background)
BACKGROUND = {"test_cli_prints_the_helpful_message_not_a_traceback": [cli_without_gowalla]}
