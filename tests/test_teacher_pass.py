"""The teacher's top-N pass of a RecBole teacher (SASRec) is scored in item blocks, exactly."""

import torch

from recbole_rd.checkpoint import dataset_fingerprint
from recbole_rd.distill import teacher as teacher_pass
from recbole_rd.distill import topk_cache
from recbole_rd.distill.base import TeacherNeed
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start import prepare

from conftest import CountingTeacher, tiny_config_dict


def sasrec_teacher(tiny):
    config, train, _, _ = prepare("SASRec", "tiny", config_dict=tiny_config_dict(
        tiny, MAX_ITEM_LIST_LENGTH=5, hidden_size=16, inner_size=32, n_layers=1, n_heads=1,
        train_neg_sample_args=None))
    torch.manual_seed(3)
    model = get_model("SASRec")(config, train._dataset).eval()
    return model, train._dataset


def test_recbole_teacher_is_scored_in_item_blocks_and_gives_the_full_ranking(tiny, monkeypatch):
    model, dataset = sasrec_teacher(tiny)
    n = dataset.item_num
    encode, score_shared = teacher_pass.block_scorer(model)
    batch = dataset.inter_feat[:8]
    items = torch.arange(n)
    torch.testing.assert_close(score_shared(encode(batch), items), model.full_sort_predict(batch).view(8, n))
    full = teacher_pass.teacher_topk(model, dataset, 10, "cpu", item_block=n)
    blocked = teacher_pass.teacher_topk(model, dataset, 10, "cpu", item_block=13)
    assert torch.equal(full, blocked)
    # the block size follows the score budget for a RecBole teacher as for ours
    monkeypatch.setattr(teacher_pass, "SCORE_BUDGET", 64 * 20)
    assert teacher_pass.items_per_block(model, n, 64, 10) == 20


def test_a_teacher_that_does_not_score_by_item_embedding_has_no_block_scorer(tiny):
    model, _ = sasrec_teacher(tiny)
    model.full_sort_predict = lambda interaction: torch.zeros(len(interaction), model.n_items)
    assert teacher_pass.block_scorer(model) is None
    assert teacher_pass.items_per_block(model, model.n_items, 64, 10) == model.n_items


def test_training_sets_with_the_same_mappings_but_other_instances_do_not_share_a_cache(tiny_data, tiny):
    """The cache key covers the training instances, not only the id mappings: the first and
    the second half of the training rows (same size, same mappings) get their own top-N."""
    _, train, _, _ = tiny_data
    dataset = train._dataset
    half = len(dataset) // 2
    first = dataset.copy(dataset.inter_feat[:half])
    second = dataset.copy(dataset.inter_feat[half:2 * half])
    assert dataset_fingerprint(first) == dataset_fingerprint(second) and len(first) == len(second)
    teacher_file = tiny / "teacher.pth"
    teacher_file.write_bytes(b"a teacher")
    need = TeacherNeed(5)
    key = topk_cache.topk_cache_key(teacher_file, first, need)
    assert key == topk_cache.topk_cache_key(teacher_file, dataset.copy(dataset.inter_feat[:half]), need)
    assert key != topk_cache.topk_cache_key(teacher_file, second, need)
    teacher, cache = CountingTeacher(dataset.item_num), tiny / "cache"
    ranking1, file1 = topk_cache.teacher_ranking_cached(teacher, teacher_file, first, need, "cpu", cache)
    calls = teacher.calls
    ranking2, file2 = topk_cache.teacher_ranking_cached(teacher, teacher_file, second, need, "cpu", cache)
    assert file2 != file1 and teacher.calls > calls  # computed, not read from the first one's file
    assert torch.equal(ranking2.ids, teacher_pass.teacher_topk(teacher, second, 5, "cpu"))
    assert not torch.equal(ranking1.ids, ranking2.ids)  # targets differ, so do the top-5 lists
    again, file3 = topk_cache.teacher_ranking_cached(teacher, teacher_file, first, need, "cpu", cache)
    assert file3 == file1 and torch.equal(again.ids, ranking1.ids)
