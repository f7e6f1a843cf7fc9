"""tsvq.gaps: gaps filled on a straight line between their neighbours, ends held at the nearest
value, and the tokens that touched a fill marked. (Through the Tokenizer and `tsvq encode
--missing interpolate` on real files: tests/tokens/test_tokenizer.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from tsvq.tokens.gaps import EmptySeries, fill_linear, token_mask

NAN, INF = math.nan, math.inf

# name -> (one series with gaps, the series filled)
CASES = {
    "no gap": ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]),
    "one inside": ([1.0, NAN, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]),
    "a run inside": ([0.0, NAN, NAN, NAN, 8.0], [0.0, 2.0, 4.0, 6.0, 8.0]),
    "leading": ([NAN, NAN, 5.0, 6.0], [5.0, 5.0, 5.0, 6.0]),
    "trailing": ([1.0, 2.0, NAN, NAN], [1.0, 2.0, 2.0, 2.0]),
    "both ends and inside": ([NAN, 1.0, NAN, 3.0, NAN], [1.0, 1.0, 2.0, 3.0, 3.0]),
    "inf and -inf are gaps": ([2.0, INF, -INF, 8.0], [2.0, 4.0, 6.0, 8.0]),
    "one finite value": ([NAN, NAN, 7.0, NAN], [7.0, 7.0, 7.0, 7.0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fill_linear(name: str) -> None:
    given, expected = CASES[name]
    x = torch.tensor([given, given[::-1]])  # the mirror image fills as the mirror image
    filled, mask = fill_linear(x)
    assert torch.equal(filled, torch.tensor([expected, expected[::-1]])), filled
    assert torch.equal(mask, ~torch.isfinite(x))
    assert torch.isfinite(x[~mask]).all() and torch.equal(filled[~mask], x[~mask])


def test_rows_are_filled_independently() -> None:
    x = torch.tensor([[1.0, NAN, 3.0], [10.0, 20.0, NAN]])
    filled, _ = fill_linear(x)
    assert torch.equal(filled, torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 20.0]]))


def test_a_series_with_no_finite_value_is_named() -> None:
    x = torch.tensor([[1.0, 2.0], [NAN, INF], [NAN, NAN]])
    with pytest.raises(EmptySeries, match="series 1 has no finite value") as info:
        fill_linear(x)
    assert info.value.row == 1


def test_token_mask_marks_the_tokens_whose_steps_hold_a_fill() -> None:
    filled = torch.zeros(2, 8, dtype=torch.bool)  # 8 steps, 4 tokens of 2 steps each
    filled[0, 3] = True  # step 3: token 1
    filled[1, [0, 7]] = True  # steps 0 and 7: tokens 0 and 3
    assert token_mask(filled, 4).tolist() == [
        [False, True, False, False],
        [True, False, False, True],
    ]
