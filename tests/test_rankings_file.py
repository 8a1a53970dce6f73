"""A teacher given as a file of rankings (``teacher_rankings``): read and checked before training (each
refusal names the file's line), the file's sha256 in the cache key, and the same top-N as the teacher
pass of the checkpoint that wrote it."""

import hashlib
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import config_with, module_tiny, tiny_config_dict

from recbole_rd.distill.base import TeacherNeed
from recbole_rd.distill.rankings_file import (
    file_teacher_ranking,
    file_user_ranking,
    rankings_cache_key,
    rankings_frame,
    rankings_provenance,
)
from recbole_rd.distill.teacher import targets_of, teacher_ranking
from recbole_rd.errors import ConfigError, DatasetError
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start import load_data_and_model, prepare, run_recbole_rd
from recbole_rd.trainer.distill_trainer import DistillTrainer

LIST_LENGTH = 8
SASREC = dict(MAX_ITEM_LIST_LENGTH=5, hidden_size=16, inner_size=32, n_layers=1, n_heads=1, epochs=1)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """``(folder, config, train dataset)`` of CaserRD on the tiny data, RD with K=3."""
    with module_tiny(tmp_path_factory, "rankings") as folder:
        config, train, _, _ = prepare("CaserRD", "tiny", config_dict=tiny_config_dict(folder, K=3, epochs=1))
        yield folder, config, train._dataset


def user_lists(dataset, length=LIST_LENGTH, seed=0):
    """token -> its list of item tokens, best first: a fixed random ranking per user with training rows."""
    generator = np.random.default_rng(seed)
    users = np.unique(dataset.inter_feat[dataset.uid_field].numpy())
    return {dataset.id2token(dataset.uid_field, int(user)):
            list(dataset.id2token(dataset.iid_field, generator.permutation(np.arange(1, dataset.item_num))[:length]))
            for user in users}


def write_lists(path, lists, scores=False):
    """A per-user file of ``lists`` in the documented format, its lines in shuffled order."""
    rows = [{"user_id": user, "item_id": item, "rank": rank, **({"score": 10.0 - rank} if scores else {})}
            for user, items in lists.items() for rank, item in enumerate(items, 1)]
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=1)
    frame.to_csv(path, index=False)
    return path


def write_text(path, text):
    path.write_text(text)
    return path


def ranking_of(student, tmp_path, path, need=TeacherNeed(3), **settings):
    _, config, dataset = student
    config = config_with(config, teacher_rankings=str(path), checkpoint_dir=str(tmp_path / "saved"), **settings)
    return file_teacher_ranking(config, dataset, need)[0]


def some_user(dataset):
    return dataset.id2token(dataset.uid_field, int(dataset.inter_feat[dataset.uid_field][0]))


def test_one_list_per_user_ranks_each_instance_in_rank_order_without_its_target(student, tmp_path, caplog):
    _, _, dataset = student
    lists = user_lists(dataset)
    ranking = ranking_of(student, tmp_path, write_lists(tmp_path / "t.csv", lists))
    users = dataset.id2token(dataset.uid_field, dataset.inter_feat[dataset.uid_field].numpy())
    targets = targets_of(dataset.inter_feat, dataset.iid_field)[:, 0].tolist()
    expected = [[item for item in dataset.token2id(dataset.iid_field, lists[user]) if item != target][:3]
                for user, target in zip(users, targets)]
    assert ranking.ids.dtype == torch.int32 and ranking.ids.tolist() == expected
    held_target = sum(target in dataset.token2id(dataset.iid_field, lists[user])
                      for user, target in zip(users, targets))
    assert held_target > 0 and f"the lists of {held_target} training instances held the item" in caplog.text


@pytest.mark.parametrize("column, drop", [("user_id", False), ("item_id", False), ("user_id", True), ("item_id", True)])
def test_unknown_tokens_are_refused_naming_the_line_or_dropped_with_the_switch(student, tmp_path, caplog, column, drop):
    _, _, dataset = student
    lists = user_lists(dataset)
    frame = pd.DataFrame([{"user_id": user, "item_id": item, "rank": rank}
                          for user, items in lists.items() for rank, item in enumerate(items, 1)])
    frame.loc[4, column] = "nobody"
    if column == "user_id":
        frame.loc[len(frame)] = {"user_id": "[PAD]", "item_id": frame.item_id[0], "rank": 1}  # the padding token too
    if column == "item_id":  # the list keeps 7 items, still enough
        frame.loc[len(frame)] = {"user_id": frame.user_id[0], "item_id": "[PAD]", "rank": 99}
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    word = column[:4]
    if not drop:
        with pytest.raises(DatasetError, match=rf"t.csv line 6: {word} 'nobody' is not in dataset tiny \(2 lines "
                                               rf"name a {word} unknown.*teacher_rankings_drop_unknown: True"):
            ranking_of(student, tmp_path, path)
        return
    ranking = ranking_of(student, tmp_path, path, teacher_rankings_drop_unknown=True)
    assert ranking.ids.shape == (len(dataset), 3) and bool((ranking.ids > 0).all())
    assert f"2 lines name a {word} unknown to the dataset; dropped" in caplog.text


def test_an_item_twice_in_a_list_is_refused_naming_both_lines(student, tmp_path):
    _, _, dataset = student
    lists = user_lists(dataset)
    user = next(iter(lists))  # its list is on lines 2-9
    lists[user][5] = lists[user][2]
    path = tmp_path / "t.csv"
    pd.DataFrame([{"user_id": u, "item_id": i, "rank": r} for u, items in lists.items()
                  for r, i in enumerate(items, 1)]).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=rf"t.csv line 7: item '{lists[user][2]}' is twice in the list of user "
                                           rf"'{user}' \(lines 4 and 7\)"):
        ranking_of(student, tmp_path, path)


def test_a_rank_twice_in_a_list_is_refused(student, tmp_path):
    user = some_user(student[2])
    path = write_text(tmp_path / "t.csv", f"user_id,item_id,rank\n{user},1,1\n{user},2,2\n{user},3,2\n")
    with pytest.raises(DatasetError, match=rf"line 4: rank 2 is twice in the list of user '{user}' \(lines 3 and 4\)"):
        ranking_of(student, tmp_path, path)


def test_a_list_shorter_than_the_methods_n_is_refused(student, tmp_path):
    lists = user_lists(student[2], length=LIST_LENGTH)
    with pytest.raises(DatasetError, match=r"line \d+: the list of user '.*' has 8 items, fewer than the top 9 "
                                           r"distill_method rd needs"):
        ranking_of(student, tmp_path, write_lists(tmp_path / "t.csv", lists), need=TeacherNeed(9))


def test_a_list_that_only_the_instances_target_makes_long_enough_is_refused(student, tmp_path):
    """Each instance's own target is dropped from its list; the list must still hold N items."""
    _, _, dataset = student
    inter = dataset.inter_feat
    lists = user_lists(dataset, length=3)
    user, target = some_user(dataset), dataset.id2token(dataset.iid_field, int(inter[dataset.iid_field][0]))
    lists[user] = [target, *[item for item in lists[user] if item != target][:2]]
    with pytest.raises(DatasetError, match=rf"the list of user '{user}' has 3 items, fewer than the top 3"):
        ranking_of(student, tmp_path, write_lists(tmp_path / "t.csv", lists))


def test_scores_missing_for_a_method_that_needs_them_are_refused(student, tmp_path):
    path = write_lists(tmp_path / "t.csv", user_lists(student[2]))
    with pytest.raises(ConfigError, match=r"has no score column, and distill_method cd needs the teacher's scores"):
        ranking_of(student, tmp_path, path, need=TeacherNeed(3, scores=True), distill_method="cd")
    scored = ranking_of(student, tmp_path, write_lists(tmp_path / "s.csv", user_lists(student[2]), scores=True),
                        need=TeacherNeed(3, scores=True))
    assert scored.scores.dtype == torch.float16 and bool((scored.scores <= 9).all())


@pytest.mark.parametrize("name, text, error", [
    ("none.csv", None, r"teacher_rankings: no file .*none.csv"),
    ("t.csv", "user_id,item_id\n1,2\n", r"t.csv: columns user_id, item_id \(missing: rank\); expected user_id, "
                                        r"item_id, rank and optionally score, timestamp"),
    ("t.csv", "user_id,item_id,rank,why\n1,2,1,x\n", r"\(unexpected: why\)"),
    ("t.csv", "user_id,item_id,rank\n1,2,1\n1,3,first\n", r"t.csv line 3: rank 'first' is not an integer >= 1"),
    ("t.csv", "user_id,item_id,rank\n1,2,0\n", r"t.csv line 2: rank '0' is not an integer >= 1"),
    ("t.csv", "user_id,item_id,rank,score\n1,2,1,\n", r"t.csv line 2: score '' is not a finite number"),
    ("t.parquet", "PAR1", r"Parquet needs pyarrow: pip install pyarrow"),
])
def test_a_missing_file_or_bad_columns_are_refused_naming_the_fix(student, tmp_path, monkeypatch, name, text, error):
    monkeypatch.setattr("importlib.util.find_spec", lambda module, *args: None)  # as where pyarrow is absent
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises((ConfigError, DatasetError), match=error):
        ranking_of(student, tmp_path, path)


def test_an_instance_without_a_list_is_refused(student, tmp_path):
    lists = user_lists(student[2])
    user = some_user(student[2])
    del lists[user]
    with pytest.raises(DatasetError, match=rf"users with training interactions have no list, e.g. user '{user}'"):
        ranking_of(student, tmp_path, write_lists(tmp_path / "t.csv", lists))


def test_the_files_sha256_keys_the_cache_and_the_provenance(student, tmp_path, caplog):
    _, config, dataset = student
    path = write_lists(tmp_path / "t.csv", user_lists(dataset))
    other = write_lists(tmp_path / "o.csv", user_lists(dataset, seed=1))
    need = TeacherNeed(3)
    assert rankings_cache_key(path, dataset, need) != rankings_cache_key(other, dataset, need)
    assert rankings_cache_key(path, dataset, need) != rankings_cache_key(path, dataset, need, drop=True)
    assert rankings_provenance(path) == {"teacher_rankings": str(path),
                                         "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    settings = dict(teacher_rankings=str(path), checkpoint_dir=str(tmp_path / "saved"))
    first, cache = file_teacher_ranking(config_with(config, **settings), dataset, need)
    caplog.set_level(logging.INFO)
    again, same_cache = file_teacher_ranking(config_with(config, **settings), dataset, need)
    assert same_cache == cache and torch.equal(again.ids, first.ids) and "loaded from cache" in caplog.text
    changed, other_cache = file_teacher_ranking(config_with(config, **{**settings, "teacher_rankings": str(other)}),
                                                dataset, need)
    assert other_cache != cache and not torch.equal(changed.ids, first.ids)


def test_a_general_students_ranking_is_per_user_without_the_users_training_items(student, tmp_path, caplog):
    _, config, dataset = student
    lists = user_lists(dataset, length=40)
    path = write_lists(tmp_path / "t.csv", lists)
    ranking = file_user_ranking(config_with(config, teacher_rankings=str(path)), dataset, TeacherNeed(3))
    assert ranking.ids.shape == (dataset.user_num, 3) and ranking.ids[0].tolist() == [0, 0, 0]
    inter = dataset.inter_feat
    for user, items in list(lists.items())[:5]:
        uid = int(dataset.token2id(dataset.uid_field, user))
        trained = set(inter[dataset.iid_field][inter[dataset.uid_field] == uid].tolist())
        kept = [item for item in dataset.token2id(dataset.iid_field, items) if item not in trained][:3]
        assert ranking.ids[uid].tolist() == kept
    assert "held items of their training interactions; dropped" in caplog.text


@pytest.fixture(scope="module")
def sasrec_route(student):
    """``(checkpoint, per-instance rankings file, CD top-N of the checkpoint route)`` of a SASRec trained
    1 epoch beside the student, exported with :func:`rankings_frame`."""
    folder, config, _ = student
    settings = tiny_config_dict(folder, **SASREC)
    teacher = run_recbole_rd("SASRec", "tiny", config_dict=settings, reads_command_line=False)
    teacher_config, model, _, train, _, _ = load_data_and_model(teacher["checkpoint"])
    model.eval()  # no dropout: the teacher pass of a checkpoint ranks in eval mode too
    top = teacher_ranking(model, train.dataset, TeacherNeed(20, scores=True), teacher_config["device"])
    path = folder / "sasrec-top20.csv"
    rankings_frame(train.dataset, top).to_csv(path, index=False)
    return teacher["checkpoint"], path


def distilled_ranking(student, settings):
    folder, config, dataset = student
    student_config = config_with(config, distill_method="cd", cd_N=20, cd_samples=5, **SASREC, **settings)
    trainer = DistillTrainer(student_config, get_model("CaserRD")(student_config, dataset))
    trainer.prepare_teacher(type("Loader", (), {"_dataset": dataset})())
    return trainer.teacher_ranking


def test_a_file_exported_from_a_checkpoint_gives_the_same_top_n_as_the_checkpoint(student, sasrec_route):
    checkpoint, path = sasrec_route
    from_checkpoint = distilled_ranking(student, {"teacher_checkpoint": checkpoint})
    from_file = distilled_ranking(student, {"teacher_rankings": str(path)})
    assert torch.equal(from_file.ids, from_checkpoint.ids)
    assert torch.equal(from_file.scores, from_checkpoint.scores)
    assert list(pd.read_csv(path, nrows=0).columns) == ["user_id", "timestamp", "item_id", "rank", "score"]


def test_an_instances_own_target_in_its_list_is_dropped_and_may_leave_it_too_short(student, sasrec_route, tmp_path,
                                                                                   caplog):
    _, _, dataset = student
    rankings = pd.read_csv(sasrec_route[1], dtype={"user_id": str, "item_id": str})
    first = rankings.index[:20]  # the list of the first training instance, ranks 1..20
    target = dataset.id2token(dataset.iid_field, int(dataset.inter_feat[dataset.iid_field][0]))
    rankings.loc[first[0], "item_id"] = target
    path = tmp_path / "t.csv"
    rankings.to_csv(path, index=False)
    ranking = ranking_of(student, tmp_path, path, need=TeacherNeed(19))
    assert ranking.ids[0].tolist() == dataset.token2id(dataset.iid_field, list(rankings.item_id[first[1:]])).tolist()
    assert "the lists of 1 training instances held the item the instance predicts (its target); dropped" in caplog.text
    with pytest.raises(DatasetError, match=rf"t.csv line 2: the list of user '{rankings.user_id[0]}' at timestamp "
                                           rf"{rankings.timestamp[0]:.15g} has 20 items, fewer than the top 20"):
        ranking_of(student, tmp_path, path, need=TeacherNeed(20))


def test_an_instance_without_a_list_in_a_file_of_one_list_per_instance_is_refused(student, sasrec_route, tmp_path):
    rankings = pd.read_csv(sasrec_route[1], dtype={"user_id": str, "item_id": str})
    user, timestamp = rankings.user_id[0], rankings.timestamp[0]
    path = tmp_path / "t.csv"
    rankings.iloc[20:].to_csv(path, index=False)
    with pytest.raises(DatasetError, match=rf"1 training instances have no list, e.g. user '{user}' at timestamp "
                                           rf"{timestamp:.15g}; a file with a timestamp column"):
        ranking_of(student, tmp_path, path)


def test_a_student_trains_from_a_rankings_file_without_a_teacher_model(student, sasrec_route, tmp_path):
    folder, _, _ = student
    settings = tiny_config_dict(folder, checkpoint_dir=str(tmp_path), teacher_rankings=str(sasrec_route[1]), epochs=1)
    result = run_recbole_rd("CaserRD", "tiny", config_dict=settings, reads_command_line=False)
    assert "teacher" not in result and result["test_result"]
    assert [path.name.split("-")[0] for path in tmp_path.glob("*.pth")] == ["CaserRD"]
    assert len(list(tmp_path.glob("teacher-rankings-*.pt"))) == 1
