"""Fourier-spectral operators of the sintering solver on a periodic or mirror-extended grid (PyTorch)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import scipy.fft as sfft
import torch

_COSINE: list[bool] = [True]  # zero-flux grids on the CPU by cosine transforms (False: mirror extension)


def cosine_transforms(device: torch.device) -> bool:
    """Whether a zero-flux simulation on ``device`` uses :class:`CosineSpectral` (on the CPU)."""
    return _COSINE[0] and torch.device(device).type == "cpu"


@contextlib.contextmanager
def mirror_extension() -> Iterator[None]:
    """Within the block, zero-flux simulations made on the CPU transform the mirror-extended grid, as on a GPU
    (for checks and benchmarks)."""
    saved = _COSINE[0]
    _COSINE[0] = False
    try:
        yield
    finally:
        _COSINE[0] = saved


class _Decay:
    """The kept factor exp(−h · rate · k²) of the classes below (which set ``k2`` and ``_decay``)."""

    k2: torch.Tensor
    _decay: tuple[float, float, torch.Tensor] | None

    def decay(self, rate: float, h: float) -> torch.Tensor:
        """exp(−h · rate · k²): the exact step h of ∂η/∂t = rate ∇²η, kept for the next call with the same h."""
        if self._decay is None or self._decay[:2] != (rate, h):
            self._decay = (rate, h, torch.exp(-h * rate * self.k2))
        return self._decay[2]


class Spectral(_Decay):
    """Wave vectors of a (possibly mirror-extended) grid, for rfftn.

    On the CPU a stack of fields is transformed one field at a time: in a check on 2 cores (medians of 40
    calls, torch 2.13 with MKL), a batched float64 transform of 2 × 128³ took 2.2× (forward) and 3.3×
    (inverse) as long per field as single ones, of 2 × 512² 1.0× and 1.2×; float32 was within 10 %.
    """

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
        self.shape = shape
        ks, k2 = [], 0
        for ax, n in enumerate(shape):
            # in double whatever the fields' dtype (torch's default float32 left k² off by about 1e-7 relative)
            freq = (torch.fft.rfftfreq(n, d=1.0, dtype=torch.float64) if ax == len(shape) - 1
                    else torch.fft.fftfreq(n, d=1.0, dtype=torch.float64))
            k = (2 * math.pi * freq).to(dtype=dtype, device=device)
            k2 = k2 + (k * k).reshape([-1 if a == ax else 1 for a in range(len(shape))])
            if n % 2 == 0:  # odd derivatives have no Nyquist mode: keeping it breaks the real symmetry
                k = torch.where(freq.to(device).abs() == 0.5, torch.zeros_like(k), k)
            ks.append(k.reshape([-1 if a == ax else 1 for a in range(len(shape))]))
        self.k = ks  # for first derivatives (Nyquist mode zeroed)
        self.ik = [1j * k for k in ks]  # i k, the Fourier factor of ∂/∂x
        self.k2 = k2  # for the Laplacian (all modes)
        self.k4 = k2 * k2
        self.dims = tuple(range(-len(shape), 0))
        self._decay: tuple[float, float, torch.Tensor] | None = None

    def _per_field(self, x: torch.Tensor) -> bool:
        return x.dim() > len(self.shape) and x.device.type == "cpu"

    def fft(self, x: torch.Tensor) -> torch.Tensor:
        if self._per_field(x):
            out = torch.empty((*x.shape[:-1], x.shape[-1] // 2 + 1), dtype=x.dtype.to_complex(), device=x.device)
            for f, o in zip(x.reshape(-1, *self.shape), out.reshape(-1, *out.shape[-len(self.shape):]), strict=True):
                torch.fft.rfftn(f, dim=self.dims, out=o)
            return out
        return torch.fft.rfftn(x, dim=self.dims)

    def ifft(self, x: torch.Tensor) -> torch.Tensor:
        if self._per_field(x):
            out = torch.empty((*x.shape[:-len(self.shape)], *self.shape), dtype=x.real.dtype, device=x.device)
            for f, o in zip(x.reshape(-1, *x.shape[-len(self.shape):]), out.reshape(-1, *self.shape), strict=True):
                torch.fft.irfftn(f, s=self.shape, dim=self.dims, out=o)
            return out
        return torch.fft.irfftn(x, s=self.shape, dim=self.dims)

    def grad(self, xh: torch.Tensor) -> list[torch.Tensor]:
        return [self.ifft(ik * xh) for ik in self.ik]

    def div_hat(self, comps: list[torch.Tensor]) -> torch.Tensor:
        out = None
        for ik, c in zip(self.ik, comps, strict=True):
            ch = self.fft(c)
            out = ch.mul_(ik) if out is None else out.addcmul_(ik, ch)  # in place: one pass per component
        return out



class CosineSpectral(_Decay):
    """The operators of :class:`Spectral` on the even (mirror) extension of a zero-flux grid, without
    building it: cosine transforms of the grid itself (scipy.fft, CPU).

    A field that is even about the grid's outer faces has a cosine series (DCT-II) with wave numbers
    k_j = πj/N, j = 0 … N − 1, the same modes as the real transform of the doubled grid.  Even
    multipliers (k², exp(−h r k²), the implicit factors) act on its coefficients as they are.  A first
    derivative along axis a turns it into a sine series along a (its j = N term, the Nyquist mode, is dropped
    as :class:`Spectral` zeroes it), inverted by a DST-II inverse along a; the divergence takes each
    component's sine series along its own axis (DST-II) back to cosine coefficients.  The numbers equal those of
    the mirror-extended transforms up to round-off (tests) on a grid a quarter (2D) or an eighth (3D) of the
    extension's size (``benchmarks.sinter_kernels`` times the two).  Coefficients are real tensors of the grid's
    shape.
    """

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
        if torch.device(device).type != "cpu":
            raise ValueError("cosine transforms run on the CPU (scipy); use the mirror extension elsewhere")
        self.shape = shape
        d = len(shape)
        self.dims = tuple(range(-d, 0))
        ks, k2 = [], 0
        for ax, n in enumerate(shape):
            k = (math.pi / n) * torch.arange(n, dtype=dtype)
            k2 = k2 + (k * k).reshape([-1 if a == ax else 1 for a in range(d)])
            ks.append(k)
        self.k = ks  # per axis, k_j = πj/N (1D)
        self.k2 = k2
        self.k4 = k2 * k2
        self._decay: tuple[float, float, torch.Tensor] | None = None

    @staticmethod
    def _workers() -> int:
        return max(1, torch.get_num_threads())

    def _apply(self, x: torch.Tensor, forward: bool, sine_axis: int | None = None) -> torch.Tensor:
        """DCT-II (``forward``) or its inverse over the grid's axes; DST-II (or its inverse) along ``sine_axis``."""
        a = x.detach().numpy()
        w = self._workers()
        axes = [ax for ax in self.dims if ax != sine_axis]
        if forward:
            out = sfft.dctn(a, type=2, axes=axes, workers=w)
            if sine_axis is not None:
                out = sfft.dst(out, type=2, axis=sine_axis, workers=w, overwrite_x=True)
        else:
            out = sfft.idctn(a, type=2, axes=axes, workers=w)
            if sine_axis is not None:
                out = sfft.idst(out, type=2, axis=sine_axis, workers=w, overwrite_x=True)
        return torch.from_numpy(out)

    def fft(self, x: torch.Tensor) -> torch.Tensor:
        """Cosine coefficients (DCT-II over the grid's axes; any leading axes are fields)."""
        return self._apply(x, True)

    def ifft(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x, False)

    def _along(self, k: torch.Tensor, ax: int) -> torch.Tensor:
        return k.reshape([-1 if a == ax else 1 for a in self.dims])

    def grad(self, xh: torch.Tensor) -> list[torch.Tensor]:
        """∂/∂x_a of the field with cosine coefficients ``xh``: −k_j a_j is the sine coefficient of mode j, which
        DST-II holds at index j − 1 (mode N, the Nyquist mode, none)."""
        out = []
        for ax in self.dims:
            n = xh.shape[ax]
            b = torch.zeros_like(xh)
            b.narrow(ax, 0, n - 1).copy_(xh.narrow(ax, 1, n - 1)).mul_(-self._along(self.k[ax][1:], ax))
            out.append(self._apply(b, False, sine_axis=ax))
        return out

    def div_hat(self, comps: list[torch.Tensor]) -> torch.Tensor:
        """Cosine coefficients of Σ_a ∂c_a/∂x_a, each c_a odd about the faces across its own axis."""
        out = None
        for ax, c in zip(self.dims, comps, strict=True):
            b = self._apply(c, True, sine_axis=ax)  # sine coefficients, mode j at index j − 1
            n = b.shape[ax]
            part = torch.zeros_like(b)
            part.narrow(ax, 1, n - 1).copy_(b.narrow(ax, 0, n - 1)).mul_(self._along(self.k[ax][1:], ax))
            out = part if out is None else out.add_(part)
        return out



def mirror(x: torch.Tensor, dims: int, sign: list[float] | None = None) -> torch.Tensor:
    """Even extension over the last ``dims`` axes (doubling each); vector components may flip sign."""
    for a in range(-dims, 0):
        flipped = torch.flip(x, dims=(a,))
        if sign is not None:
            flipped = flipped * sign[a + dims]
        x = torch.cat([x, flipped], dim=a)
    return x


def crop(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return x[(..., *[slice(0, n) for n in shape])]
