import pytest
import torch

from recbole_rd.ranking import GROUP_SIZE, MIN_ITEMS, top_k


def assert_same_topk(scores, k):
    values, indices = top_k(scores, k)
    expected = scores.topk(k, dim=1).values
    assert torch.equal(values, expected)
    assert torch.equal(scores.gather(1, indices), expected)
    assert all(len(set(row.tolist())) == k for row in indices)


@pytest.mark.parametrize("n", [MIN_ITEMS, 13923, 20003])
def test_equals_torch_topk_on_large_catalogues(n):
    torch.manual_seed(0)
    scores = torch.randn(64, 32) @ torch.randn(32, n) + torch.randn(n)
    assert_same_topk(scores, 10)


def test_best_items_all_in_one_group_and_in_the_tail():
    n = 8 * 1000 + 5  # width 1000 per group, 5 tail items
    scores = torch.zeros(2, n)
    width = n // GROUP_SIZE
    group_zero = torch.arange(0, GROUP_SIZE * width, width)  # items 0, 1000, ..., 7000: one strided group
    scores[0, group_zero] = torch.arange(10.0, 10.0 + GROUP_SIZE)
    scores[0, 5] = 9.5
    scores[0, 1] = 9.0  # the 10th best lies in group 1, behind the 8 of group 0 and item 5
    scores[1, n - 1], scores[1, n - 3] = 7.0, 6.0  # the two best are tail items
    values, indices = top_k(scores, 10)
    assert indices[0].tolist() == [7000, 6000, 5000, 4000, 3000, 2000, 1000, 0, 5, 1]
    assert indices[1, :2].tolist() == [n - 1, n - 3]
    assert values[1, :2].tolist() == [7.0, 6.0]


def test_masked_items_are_never_picked_before_finite_ones():
    torch.manual_seed(1)
    scores = torch.randn(5, 9000)
    scores[:, ::2] = -torch.inf
    values, indices = top_k(scores, 10)
    assert bool(torch.isfinite(values).all()) and bool((indices % 2 == 1).all())
    assert_same_topk(scores, 10)


def test_small_catalogues_and_large_k_stay_exact():
    torch.manual_seed(2)
    for n, k in [(100, 5), (MIN_ITEMS - 1, 10), (MIN_ITEMS, MIN_ITEMS // GROUP_SIZE)]:
        scores = torch.randn(3, n)
        assert torch.equal(top_k(scores, k)[1], scores.topk(k, dim=1).indices)
