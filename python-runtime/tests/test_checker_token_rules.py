"""The token-agreement rules of the checker on hand-made rows: a mismatch at a clear margin fails,
one at a near tie or one the stack's tolerated error at that row explains is excused, and that error
only counts while the compared run follows the tokens it was measured along."""

import torch

from vibeserve_runtime.checker.checks import errors_along, tokens_agree

VOCAB = 6


def rows_with_margins(margins: list[float]) -> torch.Tensor:
    """Logit rows whose top-1 beats the runner-up by the given margins."""
    rows = torch.zeros(len(margins), VOCAB)
    for i, m in enumerate(margins):
        rows[i, 1], rows[i, 2] = 1.0 + m, 1.0
    return rows


def test_a_flip_at_a_clear_margin_fails_and_one_at_a_near_tie_passes():
    want = [[1, 1, 1, 1]]
    rows = [rows_with_margins([2.0, 2.0, 0.01, 2.0])]
    assert tokens_agree("t", [[1, 1, 2, 1]], want, rows, margin_threshold=0.1, what="")["passed"]
    failed = tokens_agree("t", [[1, 2, 1, 1]], want, rows, margin_threshold=0.1, what="")
    assert not failed["passed"] and "clear" in failed["detail"]


def test_a_flip_is_excused_only_where_the_tolerated_row_error_explains_it():
    want, rows = [[1, 1, 1, 1]], [rows_with_margins([2.0, 2.0, 2.0, 2.0])]
    errors = [torch.tensor([0.01, 1.5, 0.01, 0.01])]  # a flipped expert at row 1 moved its logits by 1.5
    assert tokens_agree("t", [[1, 2, 1, 1]], want, rows, 0.1, "", errors)["passed"]
    assert not tokens_agree("t", [[1, 1, 2, 1]], want, rows, 0.1, "", errors)["passed"]  # row 2's error is small


def test_row_errors_stop_where_the_run_leaves_the_tokens_they_were_measured_along():
    errors = [torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([0.5, 0.6, 0.7, 0.8])]
    kept = errors_along(errors, [[1, 1, 9, 9], [3, 3, 3, 3]], [[1, 1, 1, 1], [3, 3, 3, 3]])
    assert torch.equal(kept[0], errors[0][:3])  # row 2 is the first differing token's own row: same prefix
    assert torch.equal(kept[1], errors[1])
    # a batch run that flips past that point is not excused by rows computed on another prefix
    alone, batch = [[1, 1, 9, 9]], [[1, 1, 9, 7]]
    rows = [rows_with_margins([2.0, 2.0, 2.0, 2.0])]
    assert not tokens_agree(
        "t", batch, alone, rows, 0.1, "", errors_along([torch.full((4,), 5.0)], alone, [[1, 1, 1, 1]])
    )["passed"]
