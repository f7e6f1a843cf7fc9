"""1-D convolutions over a short patch, computed as banded matrix products.

A patch is only `patch_size` steps long, so every convolution of the model runs over a
handful of positions (16, 8 and 4 at the defaults). As `nn.Conv1d` these are thousands of
tiny convolutions whose backward pass (and bf16 path on a CPU) runs far below the machine's
matrix-product speed. Here activations stay position-major, `[N, positions * channels]`, and a
convolution is one matrix `W [L_out*C_out, L_in*C_in]` built from the kernel. That matrix is
banded (an output position reads only a few input positions), so the output positions are cut
into runs and each run is one matrix product over the contiguous input positions it reads:
strided views, no im2col copies, close to the convolution's own multiply-add count.

The matrix is built from the kernel by one small product with a constant one-hot tap table
`[L_out, L_in, k]` (exact: each entry is one kernel tap or zero), so its gradient flows back to
the kernel as a matrix product too, not a scatter. Where matrix products are cheap against the
cost of issuing one (a CPU with AMX tiles, or a GPU) the whole matrix is one product per layer,
zeros included; elsewhere the runs below.

`PatchConv1d` and `PatchConvTranspose1d` are `nn.Conv1d` / `nn.ConvTranspose1d` with the same
parameters, initialisation and state_dict; their `forward` is still PyTorch's convolution (the
reference the tests compare against) and `flat_forward` is the banded path.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

Run = tuple[int, int, int, int]  # rows [r0, r1) of W and the columns [c0, c1) they read


def tap_table(
    length_in: int, length_out: int, kernel: int, stride: int, padding: int, transposed: bool
) -> torch.Tensor:
    """[L_out, L_in]: the kernel tap linking each output to each input position, or `kernel`."""
    lo = torch.arange(length_out)[:, None]
    li = torch.arange(length_in)[None, :]
    tap = lo - li * stride + padding if transposed else li - lo * stride + padding
    return torch.where((tap >= 0) & (tap < kernel), tap, kernel)


# What one more matrix product costs, in multiply-adds per row of the batch: the fixed cost of
# a product and its two backward products. Of 1024, 8192 and one product per layer, 1024 was
# fastest, or tied with 8192 (bf16, 2 threads): encoder + decoder, 2048 patches, 2-core EPYC.
PRODUCT_COST = 1024


def cut_runs(
    taps: torch.Tensor, kernel: int, c_in: int, c_out: int
) -> list[tuple[int, int, int, int]]:
    """Cut the output positions into runs (o0, o1, i0, i1) reading input positions [i0, i1).

    A run of outputs reads the span of inputs any of them reads: a longer run means fewer
    matrix products but more zeros multiplied. Dynamic programming over the cut points
    minimises the multiply-adds plus PRODUCT_COST per product.
    """
    length_out = taps.shape[0]
    reads = [(taps[o] < kernel).nonzero().flatten().tolist() for o in range(length_out)]

    def span(o0: int, o1: int) -> tuple[int, int]:
        read = [i for r in reads[o0:o1] for i in r]
        return (min(read), max(read) + 1) if read else (0, 0)

    best = [0] + [float("inf")] * length_out
    cut = [0] * (length_out + 1)
    for o1 in range(1, length_out + 1):
        for o0 in range(o1):
            i0, i1 = span(o0, o1)
            cost = best[o0] + (o1 - o0) * c_out * (i1 - i0) * c_in + PRODUCT_COST
            if cost < best[o1]:
                best[o1], cut[o1] = cost, o0
    runs = []
    o1 = length_out
    while o1:
        runs.append((cut[o1], o1, *span(cut[o1], o1)))
        o1 = cut[o1]
    return runs[::-1]


# Whether convolutions on a CPU run as banded runs (True) or one dense product per layer
# (False); None: decided by the CPU, dense where it has AMX tiles. On a 4th-generation Xeon
# (AMX, 2 cores, bf16) dense trained 2,100 windows/s against 1,850 with runs
# (PRODUCT_COST 1024); on an AVX-512 EPYC without AMX runs were faster.
CPU_BANDS: bool | None = None
# read once here: the compiler cannot trace the query (torch's own, private; absent: no AMX)
_AMX = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def use_bands(device: torch.device) -> bool:
    """Whether a convolution on `device` runs as banded runs rather than one dense product."""
    if device.type != "cpu":
        return False
    if CPU_BANDS is not None:
        return CPU_BANDS
    return not _AMX


class _BandedProduct(torch.autograd.Function):
    """y = x @ W.T + b, W computed only on its runs (W's other entries are zero)."""

    @staticmethod
    def forward(ctx, x, w, bias, runs):  # noqa: ANN001, ANN205 (autograd signature)
        y = x.new_empty(x.shape[0], w.shape[0])
        for r0, r1, c0, c1 in runs:
            block = w[r0:r1, c0:c1].t()
            if bias is None:
                torch.mm(x[:, c0:c1], block, out=y[:, r0:r1])
            else:
                torch.addmm(bias[r0:r1], x[:, c0:c1], block, out=y[:, r0:r1])
        ctx.save_for_backward(x, w)
        ctx.runs = runs
        return y

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        x, w = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.zeros_like(x)
            for r0, r1, c0, c1 in ctx.runs:
                grad_x[:, c0:c1].addmm_(grad[:, r0:r1], w[r0:r1, c0:c1])
        if ctx.needs_input_grad[1]:
            grad_w = torch.zeros_like(w)  # entries outside the runs are structural zeros
            for r0, r1, c0, c1 in ctx.runs:
                grad_w[r0:r1, c0:c1] = grad[:, r0:r1].t() @ x[:, c0:c1]
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b, None


def banded_linear(
    x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, runs: tuple[Run, ...]
) -> torch.Tensor:
    """`F.linear` for a banded matrix `w` computed on its runs, in autocast's dtype when on."""
    if torch.compiler.is_compiling():  # plain ops the compiler can trace and plan memory for
        return torch.cat(
            [
                F.linear(
                    x[:, c0:c1],
                    w[r0:r1, c0:c1],
                    bias[r0:r1] if bias is not None else None,
                )
                for r0, r1, c0, c1 in runs
            ],
            dim=1,
        )
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, w = x.to(dtype), w.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
        with torch.autocast(device, enabled=False):
            return _BandedProduct.apply(x, w, bias, runs)
    return _BandedProduct.apply(x, w, bias, runs)


class _Banded(nn.Module):
    """What PatchConv1d and PatchConvTranspose1d share: the runs and the flat forward."""

    # set by the nn.Conv1d / nn.ConvTranspose1d this is mixed into
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | tuple[int, ...]  # patch convolutions take integer padding only
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]
    groups: int
    transposed: bool  # nn.ConvTranspose1d's own flag (False for nn.Conv1d)
    weight: torch.Tensor
    bias: torch.Tensor | None
    taps: torch.Tensor

    def _init_band(self, length_in: int) -> None:
        if isinstance(self.padding, str):
            raise ValueError(f"patch convolutions take integer padding, got {self.padding!r}")
        (k,), (s,), (p,) = self.kernel_size, self.stride, self.padding
        c_in, c_out = self.in_channels, self.out_channels
        if self.groups != 1 or self.dilation != (1,):
            raise ValueError("patch convolutions support groups=1, dilation=1 only")
        transposed = self.transposed
        if transposed:
            length_out = (length_in - 1) * s - 2 * p + k + self.output_padding[0]
        else:
            length_out = (length_in + 2 * p - k) // s + 1
        if length_out < 1:
            raise ValueError(f"a kernel-{k} stage leaves no positions of {length_in}")
        self.length_in, self.length_out = length_in, length_out
        self.pointwise = not transposed and k == 1 and s == 1 and p == 0
        self.runs: tuple[Run, ...] = ()
        if self.pointwise or self.weight.is_meta:  # a linear map per position, or a skeleton
            return
        taps = tap_table(length_in, length_out, k, s, p, transposed)  # [Lo, Li]
        self.runs = tuple(
            (o0 * c_out, o1 * c_out, i0 * c_in, i1 * c_in)
            for o0, o1, i0, i1 in cut_runs(taps, k, c_in, c_out)
        )
        # [Lo, Li, k] one-hot: which tap links output position lo to input position li
        onehot = F.one_hot(taps, k + 1)[..., :k].to(self.weight.dtype)
        self.register_buffer("taps", onehot, persistent=False)

    def matrix(self) -> torch.Tensor:
        """W [L_out*C_out, L_in*C_in] from the kernel, in the weight's dtype (autocast off:
        the product is exact, and its backward sums the kernel's gradient in full precision)."""
        lo, li, k = self.taps.shape
        # the kernel as [k, C_out, C_in], for a convolution and a transposed one alike
        kernel = self.weight.permute(2, 1, 0) if self.transposed else self.weight.permute(2, 0, 1)
        with torch.autocast(self.weight.device.type, enabled=False):
            w = self.taps.reshape(lo * li, k) @ kernel.reshape(k, -1)
        c_out, c_in = kernel.shape[1], kernel.shape[2]
        return w.view(lo, li, c_out, c_in).permute(0, 2, 1, 3).reshape(lo * c_out, li * c_in)

    def flat_forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, L_in*C_in] -> [N, L_out*C_out], positions major (channels of a position adjacent)."""
        if self.pointwise:  # one linear map per position (its block-diagonal W, dense,
            # trained 6% slower with AMX)
            y = F.linear(x.reshape(-1, self.in_channels), self.weight[:, :, 0], self.bias)
            return y.reshape(x.shape[0], -1)
        w = self.matrix()
        bias = self.bias.repeat(self.length_out) if self.bias is not None else None
        if use_bands(x.device):
            return banded_linear(x, w, bias, self.runs)
        return F.linear(x, w, bias)


class PatchConv1d(_Banded, nn.Conv1d):
    """nn.Conv1d over a fixed number of positions, with a banded matrix-product path."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        *,
        length: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        nn.Conv1d.__init__(self, c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
        self._init_band(length)


class PatchConvTranspose1d(_Banded, nn.ConvTranspose1d):
    """nn.ConvTranspose1d over a fixed number of positions, with a banded matrix-product path."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        *,
        length: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        nn.ConvTranspose1d.__init__(
            self, c_in, c_out, kernel, stride=stride, padding=padding, bias=bias
        )
        self._init_band(length)


def run_flat(layers: Iterable[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """Run patch convolutions, ReLUs and residual stacks on position-major activations."""
    for layer in layers:
        flat = getattr(layer, "flat_forward", None)
        x = flat(x) if flat is not None else layer(x)
    return x
