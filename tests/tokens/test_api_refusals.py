"""The Tokenizer API's bad input, round 3 (issue 25, classes 6 and 9): every input it cannot
use is one `TsvqError` naming it, never torch's or numpy's error (other dtypes, devices the
machine does not have, meta, sparse, quantized or nested tensors, values beyond float32), and
no pass larger than memory holds is started (a `batch_size` far beyond it, one enormous
window): the memory estimate refuses it first. `decode` refuses statistics for a model trained
without RevIN, as `encode` does."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from tsvq.data.record import DataRecord
from tsvq.data.windows import DataSpec, Scaler
from tsvq.errors import TsvqError
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.tokens.encoded import Encoded
from tsvq.tokens.tokenizer import Tokenizer

T, C = 32, 3


def _tokenizer(revin: bool = True, num_embeddings: int = 16) -> Tokenizer:
    cfg = ModelConfig(
        context_points=T, patch_size=8, embedding_dim=8, num_embeddings=num_embeddings, revin=revin
    )
    torch.manual_seed(0)
    scaler = Scaler("standard", np.zeros(C, np.float32), np.ones(C, np.float32))
    data = DataRecord(DataSpec("custom", None, None, T), scaler, ("a", "b", "c"), C)
    return Tokenizer(VQVAE(cfg), data)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return _tokenizer(revin=True)


@pytest.fixture(scope="module")
def plain_tok() -> Tokenizer:
    """Trained without RevIN."""
    return _tokenizer(revin=False)


@pytest.fixture(scope="module")
def big_tok() -> Tokenizer:
    """2^20 codes: each series' distances to the codebook take 32 MiB, so 10^4 windows of 3
    channels need about a TiB, far beyond any machine's memory."""
    return _tokenizer(num_embeddings=2**20)


X = np.random.default_rng(0).normal(size=(4, T, C)).astype(np.float32)
CODES = np.zeros((4, C, T // 4), np.int64)
STATS = np.zeros((4, C), np.float32), np.ones((4, C), np.float32)


def _sparse() -> torch.Tensor:
    return torch.from_numpy(X).to_sparse()


def _quantized() -> torch.Tensor:
    with warnings.catch_warnings():  # deprecated, still made: a user may hold one
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(torch.from_numpy(X), 0.1, 0, torch.qint8)


def _nested() -> torch.Tensor:
    with warnings.catch_warnings():  # a prototype API, still one a user may call
        warnings.simplefilter("ignore")
        return torch.nested.nested_tensor([torch.from_numpy(X[0]), torch.from_numpy(X[1])])


def _huge_view(shape: tuple[int, ...]) -> np.ndarray:
    """An array of `shape` that takes no memory (every window the same zeros)."""
    return np.broadcast_to(np.zeros((1,) * len(shape), np.float32), shape)


# name -> (the call, text the one-line error must contain)
CASES: dict[str, tuple[Callable[[Tokenizer], Any], str]] = {
    "x complex": (lambda t: t.encode(X.astype(np.complex64)), "x must hold real numbers"),
    "x of objects": (lambda t: t.encode(X.astype(object)), "x must hold real numbers"),
    "x of text": (lambda t: t.encode(np.asarray([["a"] * C] * T)), "x must hold real numbers"),
    "a list of text": (lambda t: t.encode([["a"] * T] * 2), "x[0] must hold real numbers"),
    "x a torch bool tensor": (lambda t: t.encode(torch.ones(4, T, C, dtype=torch.bool)), "bool"),
    "x a meta tensor": (lambda t: t.encode(torch.empty(4, T, C, device="meta")), "a meta tensor"),
    "x a sparse tensor": (lambda t: t.encode(_sparse()), "a sparse tensor: pass .to_dense()"),
    "x a quantized tensor": (lambda t: t.encode(_quantized()), "pass .dequantize()"),
    "x a nested tensor": (lambda t: t.encode(_nested()), "x is a nested tensor"),
    "x beyond float32": (
        lambda t: t.encode(np.full((1, T, C), 1e300)),
        "x holds 1e+300 at window 0, time step 0, channel 0 (a), beyond the float32 range",
    ),
    "x beyond float32, gaps filled": (
        lambda t: t.encode(np.full((1, T, C), -1e300), missing="interpolate"),
        "beyond the float32 range",
    ),
    "mean a meta tensor": (
        lambda t: t.encode(X, torch.empty(4, C, device="meta"), torch.ones(4, C)),
        "mean is a meta tensor",
    ),
    "std complex": (
        lambda t: t.encode(X, STATS[0], STATS[1].astype(np.complex64)),
        "std must hold real numbers",
    ),
    "mean beyond float32": (
        lambda t: t.encode(X, np.full((4, C), 1e300), STATS[1]),
        "mean holds 1e+300, beyond the float32 range",
    ),
    "codes a meta tensor": (
        lambda t: t.decode(torch.empty(4, C, 8, dtype=torch.long, device="meta"), *STATS),
        "codes is a meta tensor",
    ),
    "codes sparse": (
        lambda t: t.decode(torch.from_numpy(CODES).to_sparse(), *STATS),
        "codes is a sparse tensor",
    ),
    "device that does not exist": (
        lambda t: t.to("cuda:7"),
        "cuda:7" if not torch.cuda.is_available() else "does not exist",
    ),
    "device meta": (lambda t: t.to("meta"), "tsvq computes on the CPU or on CUDA GPUs"),
    "device mps": (lambda t: t.to("mps"), "device='mps'"),
    "device gibberish": (lambda t: t.to("gpu please"), "is not a device torch knows"),
    "device not a string": (lambda t: t.to(3), "device must be a string or a torch.device"),
    "one enormous window": (
        lambda t: t.encode(_huge_view((1, 8 * 10**9, 1))),
        "a window of 8,000,000,000 values (time steps x channels): running this model needs",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_api_bad_input_is_one_tsvq_error(tok: Tokenizer, name: str) -> None:
    call, needle = CASES[name]
    with pytest.raises(TsvqError) as info:
        call(tok)
    message = str(info.value)
    assert needle in message and "\n" not in message, message


@pytest.mark.parametrize("call", ["encode", "decode"])
def test_a_batch_size_beyond_memory_is_refused_before_the_pass(big_tok: Tokenizer, call: str):
    n = 10**4
    if call == "encode":
        run = lambda: big_tok.encode(_huge_view((n, T, C)), batch_size=n)  # noqa: E731
    else:
        codes = np.zeros((n, C, T // 4), np.int64)
        stats = np.zeros((n, C), np.float32), np.ones((n, C), np.float32)
        run = lambda: big_tok.decode(codes, *stats, batch_size=n)  # noqa: E731
    with pytest.raises(TsvqError, match=f"batch_size={n}: running this model needs about .* GiB"):
        run()
    assert big_tok.encode(X, batch_size=2).codes.shape == (4, C, T // 4)  # a pass that fits


def test_decode_refuses_statistics_for_a_model_without_revin(plain_tok: Tokenizer) -> None:
    enc = plain_tok.encode(X)
    np.testing.assert_array_equal(enc.mean, 0)  # what encode gives without RevIN
    back = plain_tok.decode(enc)  # an Encoded's own zeros and ones undo nothing: accepted
    assert back.shape == X.shape and np.isfinite(back).all()
    np.testing.assert_array_equal(plain_tok.decode(enc.codes), back)  # bare codes, no stats
    with pytest.raises(TsvqError, match="trained without RevIN: encode without them"):
        plain_tok.encode(X, *STATS)
    with pytest.raises(TsvqError, match="trained without RevIN: decode its codes without them"):
        plain_tok.decode(enc.codes, *STATS)
    other = Encoded(enc.codes, enc.mean + 1, enc.std, enc.scaler, None, enc.columns)
    with pytest.raises(TsvqError, match="not the zeros and ones a tokenizer trained without"):
        plain_tok.decode(other)


def test_what_is_accepted_still_works(tok: Tokenizer) -> None:
    """The same values in the dtypes and containers numpy and torch share give the same codes."""
    want = tok.encode(X).codes
    for given in (X.astype(np.float64), torch.from_numpy(X), torch.from_numpy(X).double()):
        np.testing.assert_array_equal(tok.encode(given).codes, want)
    assert tok.encode(X.astype(np.float16)).codes.shape == want.shape
    np.testing.assert_array_equal(tok.encode(X, batch_size=1).codes, want)
    assert tok.to("cpu") is tok and tok.to(torch.device("cpu")) is tok
