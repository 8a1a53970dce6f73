import pytest
import torch

from recbole_rd.ranking import GROUP_SIZE, MIN_ITEMS, top_k


@pytest.fixture
def topk_inputs(monkeypatch):
    """Widths of the rows that ``torch.Tensor.topk`` is called on during the test: the grouped
    path never calls it on the full ``[rows, n]`` score matrix, the fallback does."""
    widths, original = [], torch.Tensor.topk
    monkeypatch.setattr(torch.Tensor, "topk", lambda self, *a, **kw: widths.append(self.size(-1)) or original(self, *a, **kw))
    return widths


def grouped_top_k(scores, k, widths):
    """``top_k(scores, k)``, asserting that it took the grouped path (no topk over all items)."""
    widths.clear()
    result = top_k(scores, k)
    assert widths and scores.size(1) not in widths, "top_k fell back to torch.topk over all items"
    return result


def assert_exact(scores, k, values, indices):
    """Values equal torch.topk's exactly; indices are k distinct items that hold those values."""
    expected = torch.topk(scores, k, dim=1).values
    assert torch.equal(values, expected)
    assert torch.equal(scores.gather(1, indices), expected)
    assert all(len(set(row.tolist())) == k for row in indices)


@pytest.mark.parametrize("n", [MIN_ITEMS, 13923, 20003, 100_003])
@pytest.mark.parametrize("k", [1, 10, 100])
def test_grouped_path_equals_torch_topk_on_large_catalogues(n, k, topk_inputs):
    torch.manual_seed(n + k)
    scores = torch.randn(32, 64) @ torch.randn(64, n) / 8 + torch.randn(n)  # embedding products, 10^5 items
    assert_exact(scores, k, *grouped_top_k(scores, k, topk_inputs))


@pytest.mark.parametrize("n", [MIN_ITEMS, 8 * 4000 + 7])
def test_k_at_the_grouped_limit_is_exact_and_one_more_falls_back(n, topk_inputs):
    torch.manual_seed(3)
    scores = torch.randn(6, n)
    k = (n // GROUP_SIZE) // 4  # largest k of the grouped path (group width >= 4k)
    assert_exact(scores, k, *grouped_top_k(scores, k, topk_inputs))
    topk_inputs.clear()
    assert_exact(scores, k + 1, *top_k(scores, k + 1))
    assert n in topk_inputs  # beyond the limit: torch.topk over all items


@pytest.mark.parametrize("levels", [1, 2, 5])
def test_ties_give_torch_topk_values_and_indices_of_those_values(levels, topk_inputs):
    torch.manual_seed(levels)
    n = 8 * 2000 + 3
    scores = torch.randint(0, levels, (16, n)).float()  # thousands of equal scores per row
    for k in (1, 10, 500):
        assert_exact(scores, k, *grouped_top_k(scores, k, topk_inputs))


def test_best_items_all_in_one_group_and_in_the_tail(topk_inputs):
    n = 8 * 1000 + 5  # width 1000 per group, 5 tail items
    scores = torch.zeros(3, n)
    width = n // GROUP_SIZE
    group_zero = torch.arange(0, GROUP_SIZE * width, width)  # items 0, 1000, ..., 7000: one strided group
    scores[0, group_zero] = torch.arange(10.0, 10.0 + GROUP_SIZE)
    scores[0, 5] = 9.5
    scores[0, 1] = 9.0  # the 10th best lies in group 1, behind the 8 of group 0 and item 5
    scores[1, n - 1], scores[1, n - 3] = 7.0, 6.0  # the two best are tail items
    scores[2, n - 5:] = torch.arange(20.0, 25.0)  # the five best are the whole tail
    values, indices = grouped_top_k(scores, 10, topk_inputs)
    assert indices[0].tolist() == [7000, 6000, 5000, 4000, 3000, 2000, 1000, 0, 5, 1]
    assert indices[1, :2].tolist() == [n - 1, n - 3] and values[1, :2].tolist() == [7.0, 6.0]
    assert indices[2, :5].tolist() == [n - 1, n - 2, n - 3, n - 4, n - 5]
    assert values[2, :6].tolist() == [24.0, 23.0, 22.0, 21.0, 20.0, 0.0]


def test_masked_items_are_never_picked_before_finite_ones(topk_inputs):
    torch.manual_seed(1)
    n = 8 * 1200 + 3
    scores = torch.randn(5, n)
    scores[:, ::2] = -torch.inf
    scores[:, n - 2] = 50.0  # a finite tail item among masked ones
    values, indices = grouped_top_k(scores, 10, topk_inputs)
    assert bool(torch.isfinite(values).all()) and bool((indices % 2 == 1).all())
    assert (indices[:, 0] == n - 2).all()
    assert_exact(scores, 10, values, indices)


def test_rows_with_fewer_finite_scores_than_k_end_with_masked_items(topk_inputs):
    n = 8 * 600 + 1
    scores = torch.full((2, n), -torch.inf)
    scores[0, [3, 777, n - 1]] = torch.tensor([1.0, 3.0, 2.0])  # 3 finite items, k = 5
    values, indices = grouped_top_k(scores, 5, topk_inputs)
    assert indices[0, :3].tolist() == [777, n - 1, 3] and values[0, :3].tolist() == [3.0, 2.0, 1.0]
    assert_exact(scores, 5, values, indices)  # the rest: distinct masked items, values -inf


def test_small_catalogues_fall_back_to_torch_topk(topk_inputs):
    torch.manual_seed(2)
    for n, k in [(100, 5), (MIN_ITEMS - 1, 10)]:
        scores = torch.randn(3, n)
        topk_inputs.clear()
        assert torch.equal(top_k(scores, k)[1], scores.topk(k, dim=1).indices)
        assert n in topk_inputs
