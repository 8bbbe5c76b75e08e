"""State of a sintering run: grains, fields, settings, the initial state, grain remapping.

**Grains share fields.**  Storing one full η per grain is impossible for
hundreds of grains, so grains far apart share one field (greedy colouring of
the contact graph).  Each field keeps an *owner* map (which of its grains a
voxel belongs to: the nearest centre), used for per-grain volumes, forces and
velocities.  When two grains of one field come close, one is moved to a field
with room (grain remapping), so fields never merge grains.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from datarial.devices import resolve_device
from datarial.errors import DatarialError
from datarial.sinter.packing import Packing


@dataclass
class Grains:
    """Per-grain bookkeeping: field index, centre (cells), rotation, volume (cells)."""

    field: np.ndarray  # (n,) int
    centre: np.ndarray  # (n, d) float
    rotation: np.ndarray  # (n, 3, 3)
    volume: np.ndarray  # (n,) Σ η over the grain's voxels
    velocity: np.ndarray  # (n, d) rigid-body velocity, cells per reduced time

    @property
    def n(self) -> int:
        return len(self.field)


@dataclass
class State:
    """Fields and grains at a time (reduced units)."""

    rho: torch.Tensor  # (*grid)
    eta: torch.Tensor  # (F, *grid)
    owner: torch.Tensor  # (F, *grid) int32: grain index, −1 where the field has no grain near
    grains: Grains
    time: float = 0.0
    steps: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.rho.shape)

    def copy(self) -> State:
        """An independent copy (fields and grain bookkeeping), e.g. to restart from one initial state."""
        g = self.grains
        return State(self.rho.clone(), self.eta.clone(), self.owner.clone(),
                     Grains(g.field.copy(), g.centre.copy(), g.rotation.copy(), g.volume.copy(), g.velocity.copy()),
                     self.time, self.steps)

    @property
    def dim(self) -> int:
        return self.rho.dim()

    def grain_map(self) -> np.ndarray:
        """Grain index of each voxel (−1 in pores): the field with the largest η, then its owner."""
        top = torch.argmax(self.eta, dim=0, keepdim=True)
        owner = torch.gather(self.owner, 0, top)[0]
        inside = torch.gather(self.eta, 0, top)[0] > 0.5
        return torch.where(inside, owner, torch.full_like(owner, -1)).cpu().numpy()


# The smallest stabilising mobility of the density step, as a fraction of max M: the κ_ρ∇⁴ term treated
# explicitly beyond it, (M − α)κ_ρ∇⁴, is stable while |M − α| ≤ α.
RHO_STABILISER_MIN = 0.5
# With order 2: SBDF2's explicit part is extrapolated, 2(M − α)ρⁿ − (M − α)ρⁿ⁻¹; for the stiff modes the step's
# roots solve α z² + 2β z − β = 0, β = M − α, and stay within the unit circle while β ≤ α/3 (at z = −1), so
# α ≥ 0.75 max M (M below α is stable down to M = 0).  At 0.6 a test's order-2 run blew up at Δt 0.005.
RHO_STABILISER_MIN_SBDF2 = 0.75


@dataclass(frozen=True)
class SolverSettings:
    """How to step: method, boundaries, time step control, precision, device."""

    method: str = "spectral"  # or "explicit"
    boundary: str = "periodic"  # or "zero-flux"
    dt: float = 0.05  # initial (adaptive) or fixed step, reduced time
    adaptive: bool = True
    dt_max: float = 0.4  # stable with react_step 0.05; split boundaries keep their layer only to Δt ≈ 0.03 (or eta_step)
    change_max: float = 0.2  # a step changing ρ or η by more is redone with half the step (adaptive)
    react_step: float = 0.05  # largest sub-step of the local Allen–Cahn reaction (0.1 made Δt = 0.2 unstable)
    dtype: str = "float64"
    device: str = "cpu"
    owner_every: int = 20  # steps between owner-map/centre updates
    remap_margin: float = 4.0  # cells kept between grains sharing a field (beyond their radii)
    order: int = 1  # time order of the spectral step: 1 stabilised Euler, 2 stabilised SBDF2 (ρ) + ETD2RK (η reaction)
    # Largest sub-step of the grain fields' step (spectral): a step Δt above it steps ρ once and the η equation
    # in ⌈Δt/eta_step⌉ sub-steps (None: one split step, or SBDF2 sub-steps of at most 0.25/(L B))
    eta_step: float | None = None
    # The grain fields' scheme (spectral): "sbdf2" (stabilised SBDF2 with S = 12 B: the equilibrium profile at
    # any Δt, boundary motion slowed by O(Δt²): 2 % at Δt 0.025, 9 % at 0.05; in sub-steps of at most 0.25/(L B),
    # 0.025 by default, where eta_step is not given) or "split" (Strang: the local reaction, then L κ_η ∇²
    # exactly; boundary motion accurate, but the boundary layer thins above Δt ≈ 0.03 and vanishes at 0.4).
    # "split" was the default until 2026-12: under the adaptive control, whose steps grow to dt_max, it thinned
    # the boundary layer by 28 % in benchmarks/sinter_speed.py's 2D case (82 steps to t = 2; SBDF2: 1.8 %, 22)
    eta_scheme: str = "sbdf2"
    # The density step's stabilising mobility α as a fraction of max M (spectral): its error ∝ Δt α κ_ρ k⁴.  The
    # κ_ρ∇⁴ part is stable at any Δt only from 0.5 with order 1 (Euler: the explicit remainder (M − α) within α)
    # and from 0.75 with order 2 (SBDF2 extrapolates it: M − α ≤ α/3).  Near those bounds the other explicit terms
    # have little margin: at 0.6 (order 1) a relaxing bicrystal slab blew up at Δt 0.4 with the grain fields by
    # SBDF2, and two grains with stiff rigid-body motion (m_tr 1000, M_gb 8) at Δt 0.01; neither at 0.75
    rho_stabiliser: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in ("spectral", "explicit"):
            raise DatarialError(f"solver method {self.method!r}: use 'spectral' or 'explicit'")
        if self.boundary not in ("periodic", "zero-flux"):
            raise DatarialError(f"boundary {self.boundary!r}: use 'periodic' or 'zero-flux'")
        if self.dtype not in ("float32", "float64"):
            raise DatarialError(f"dtype {self.dtype!r}: use 'float32' or 'float64'")
        if not self.dt > 0 or not self.dt_max > 0:
            raise DatarialError("the time step must be positive")
        if self.eta_step is not None and (isinstance(self.eta_step, bool) or not isinstance(self.eta_step, int | float)
                                          or not self.eta_step > 0):
            raise DatarialError(f"eta_step {self.eta_step!r}: a positive number (reduced time) or null")
        if self.eta_scheme not in ("split", "sbdf2"):
            raise DatarialError(f"eta_scheme {self.eta_scheme!r}: use 'split' (Strang splitting) or 'sbdf2' "
                                "(stabilised SBDF2)")
        if (isinstance(self.rho_stabiliser, bool) or not isinstance(self.rho_stabiliser, int | float)
                or not RHO_STABILISER_MIN <= self.rho_stabiliser <= 10.0):
            raise DatarialError(f"rho_stabiliser {self.rho_stabiliser!r}: a fraction of the largest mobility "
                                f"from {RHO_STABILISER_MIN} (below it the density step is unstable) to 10")
        if self.order not in (1, 2) or isinstance(self.order, bool):
            raise DatarialError(f"order {self.order!r}: use 1 (stabilised Euler) or 2 (stabilised SBDF2 with the ETD2RK reaction)")
        if self.order == 2 and self.method != "spectral":
            raise DatarialError("order 2 is a setting of the spectral method (the explicit one is Euler)")
        if self.order == 2 and self.rho_stabiliser < RHO_STABILISER_MIN_SBDF2:
            raise DatarialError(f"rho_stabiliser {self.rho_stabiliser!r} with order 2: at least "
                                f"{RHO_STABILISER_MIN_SBDF2} (SBDF2 extrapolates the explicit remainder "
                                "(M − α)κ_ρ∇⁴, stable only while M − α ≤ α/3)")

    def scheme(self) -> str:
        """The spectral step's scheme in words, e.g. "order 1; grain fields by SBDF2, sub-steps ≤ 0.025; density
        stabiliser 1 × max M" ("" for
        the explicit method)."""
        if self.method != "spectral":
            return ""
        text = f"order {self.order}; grain fields {'by SBDF2' if self.eta_scheme == 'sbdf2' else 'split'}"
        if self.eta_step:
            text += f", sub-steps ≤ {self.eta_step:g}"
        return text + f"; density stabiliser {self.rho_stabiliser:g} × max M"

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float32 if self.dtype == "float32" else torch.float64


OWNER_REACH = 12.0  # cells beyond a grain's radius in which its owner map is kept (η has decayed to ~1e-5)

# ----------------------------------------------------------------------------- field assignment
def _radius(volume: float, dim: int) -> float:
    return math.sqrt(volume / math.pi) if dim == 2 else (3 * volume / (4 * math.pi)) ** (1 / 3)


def _min_image(d: np.ndarray, size: np.ndarray, periodic: bool) -> np.ndarray:
    return d - size * np.round(d / size) if periodic else d


def _extents(labels: np.ndarray, centres: np.ndarray, periodic: bool) -> np.ndarray:
    """Largest distance (cells) from each grain's centre to one of its voxels.

    Used instead of the equal-volume radius when fields are first assigned, so that
    elongated or irregular grains (a segmented tomogram) that touch never share a field.
    """
    from scipy import ndimage

    idx = np.nonzero(labels)
    lab = labels[idx]
    size = np.asarray(labels.shape, float)
    d = np.stack(idx, axis=-1).astype(float) - centres[lab - 1]
    d = _min_image(d, size, periodic)
    far = ndimage.maximum(np.sum(d * d, axis=-1), lab, index=np.arange(1, len(centres) + 1))
    return np.sqrt(np.asarray(far, dtype=float)) + 0.5


def assign_fields(centres: np.ndarray, radii: np.ndarray, shape: tuple[int, ...], periodic: bool,
                  margin: float) -> np.ndarray:
    """Greedy colouring: grains closer than r_i + r_j + margin get different fields (largest first)."""
    n = len(centres)
    size = np.asarray(shape, float)
    d = _min_image(centres[:, None, :] - centres[None, :, :], size, periodic)
    dist = np.sqrt(np.sum(d * d, axis=-1))
    conflict = dist < radii[:, None] + radii[None, :] + margin
    np.fill_diagonal(conflict, False)
    fields = np.full(n, -1, dtype=np.int64)
    for i in np.argsort(-conflict.sum(axis=1), kind="stable"):
        used = set(fields[conflict[i]].tolist())
        f = 0
        while f in used:
            f += 1
        fields[i] = f
    return fields


# ----------------------------------------------------------------------------- initial state
def initial_state(packing: Packing, settings: SolverSettings | None = None, width: float = 2.0) -> State:
    """Smooth ρ and η (tanh profiles of width ``width`` cells) from a labelled packing."""
    from scipy import ndimage

    settings = settings or SolverSettings()
    device = resolve_device(settings.device)
    labels = packing.labels
    shape = labels.shape
    periodic = settings.boundary == "periodic"
    n = packing.n
    volumes = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(float)
    if np.any(volumes == 0):
        raise DatarialError(f"grain(s) {', '.join(map(str, np.flatnonzero(volumes == 0) + 1))} have no voxel")
    fields = assign_fields(packing.centres, _extents(labels, packing.centres, periodic), shape, periodic,
                           settings.remap_margin + 2 * width)
    nf = int(fields.max()) + 1

    def smooth(mask: np.ndarray) -> np.ndarray:
        # Signed distance to the mask's boundary → tanh profile; periodic wrap by padding.
        pad = 8 if periodic else 0
        m = np.pad(mask, pad, mode="wrap") if pad else mask
        inside = ndimage.distance_transform_edt(m) - 0.5
        outside = ndimage.distance_transform_edt(~m) - 0.5
        sd = np.where(m, inside, -outside)
        if pad:
            sd = sd[tuple(slice(pad, -pad) for _ in shape)]
        return 0.5 * (1.0 + np.tanh(sd / width))

    rho = smooth(labels > 0)
    eta = np.zeros((nf, *shape))
    for f in range(nf):
        members = np.flatnonzero(fields == f) + 1
        eta[f] = smooth(np.isin(labels, members))
    dtype = settings.torch_dtype
    state = State(torch.as_tensor(rho, dtype=dtype, device=device), torch.as_tensor(eta, dtype=dtype, device=device),
                  torch.empty((nf, *shape), dtype=torch.int32, device=device),
                  Grains(fields, packing.centres.astype(float).copy(), packing.rotations.copy(), volumes,
                         np.zeros((n, len(shape)))))
    update_owners(state, periodic)
    return state


# ----------------------------------------------------------------------------- owners, centres, remapping
_KERNEL: list = []  # the kernels module (or None without numba), once imported


def cpu_kernels():
    """The compiled CPU kernels (:mod:`datarial.sinter._kernels`), or None where numba is missing (then torch
    computes the same numbers, slower)."""
    if not _KERNEL:
        try:
            from datarial.sinter import _kernels
        except ImportError:  # numba is optional ([sinter] extra)
            _kernels = None
        _KERNEL.append(_kernels)
    return _KERNEL[0]


@contextlib.contextmanager
def without_kernels() -> Iterator[None]:
    """Within the block the local terms and owner maps are computed in torch, as where numba is missing (for
    checks of the kernels and for benchmarks)."""
    saved = _KERNEL[:]
    _KERNEL[:] = [None]
    try:
        yield
    finally:
        _KERNEL[:] = saved


def update_owners(state: State, periodic: bool) -> None:
    """Owner map per field (nearest centre among the field's grains), then volumes and centres.

    Each grain's owner map is kept in a box of (its radius + OWNER_REACH) around its centre, so the work grows
    with the grains' volume, not with grains × grid; voxels in no box (η ≈ 0 there) get −1.  The centres are
    η-weighted means of the owned voxels (circular means on periodic axes).
    """
    g = state.grains
    shape = state.shape
    dim = len(shape)
    reach = np.array([_radius(max(float(v), 1.0), dim) for v in g.volume]) + OWNER_REACH
    kernels = cpu_kernels() if state.rho.device.type == "cpu" else None
    if kernels is None:
        sums = _owners_torch(state, periodic, reach)
    else:
        sums = _owners_kernel(state, periodic, reach, kernels)
    vol = sums[:, 0]
    g.volume = vol.copy()
    alive = vol > 1e-6
    for ax in range(dim):
        if periodic:
            c, s = sums[:, 1 + ax], sums[:, 1 + dim + ax]
            centre = (np.arctan2(s, c) % (2 * math.pi)) * shape[ax] / (2 * math.pi)
        else:
            centre = sums[:, 1 + ax] / np.maximum(vol, 1e-12)
        g.centre[alive, ax] = centre[alive]


def _owners_kernel(state: State, periodic: bool, reach: np.ndarray, kernels) -> np.ndarray:
    """:func:`update_owners` by the numba kernels: writes the owner maps, returns the grains' sums (see
    :func:`_owners_torch`)."""
    g = state.grains
    shape, dim, n = state.shape, len(state.shape), g.n
    shape3 = np.array((1,) * (3 - dim) + tuple(shape), dtype=np.int64)
    centres = np.zeros((n, 3))
    centres[:, 3 - dim:] = g.centre
    nf = state.eta.shape[0]
    order = np.argsort(g.field, kind="stable").astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(np.bincount(g.field, minlength=nf))]).astype(np.int64)
    owner = state.owner if state.owner.is_contiguous() else state.owner.contiguous()
    flat_owner = owner.reshape(nf, -1).numpy()
    kernels.nearest_owner(shape3, centres, reach.astype(np.float64), order, starts, periodic, flat_owner)
    if owner is not state.owner:
        state.owner = owner
    if periodic:  # cos and sin of each axis' angle 2πi/n
        ang = [2 * math.pi * np.arange(k) / k for k in shape3]
        tables = np.stack([np.concatenate([np.cos(a) for a in ang]), np.concatenate([np.sin(a) for a in ang])])
    else:
        tables = np.concatenate([np.arange(k, dtype=np.float64) for k in shape3])[None, :]
    offsets = np.concatenate([[0], np.cumsum(shape3)[:-1]]).astype(np.int64)
    chunks = max(1, torch.get_num_threads())
    out = np.empty((chunks, n, 1 + 3 * tables.shape[0]))
    eta = state.eta.detach().contiguous()
    kernels.owner_sums(flat_owner, eta.reshape(nf, -1).numpy(), shape3, tables, offsets, chunks, out)
    acc = out.sum(0)
    # columns: volume, then per table the grid's three axes; keep the grid's own axes
    cols = [0] + [1 + 3 * t + (3 - dim) + ax for t in range(tables.shape[0]) for ax in range(dim)]
    return acc[:, cols]


def _owners_torch(state: State, periodic: bool, reach: np.ndarray) -> np.ndarray:
    """:func:`update_owners` in torch (GPU, or CPU without numba): writes the owner maps and returns per grain
    (n, 1 + k·d): the η-weighted volume, then Σ η cos, Σ η sin of each axis' angle 2πi/n (periodic) or Σ η i
    (zero-flux)."""
    g = state.grains
    shape = state.shape
    dev = state.rho.device
    for f in range(state.eta.shape[0]):
        members = np.flatnonzero(g.field == f)
        owner = torch.full(shape, -1, dtype=torch.int32, device=dev)
        if len(members) == 1:
            owner.fill_(int(members[0]))
        elif len(members) > 1:
            best = torch.full(shape, math.inf, dtype=torch.float64, device=dev)
            for i in members:
                axes, parts = [], []
                for ax, n in enumerate(shape):
                    c = float(g.centre[i, ax])
                    lo, hi = math.floor(c - reach[i]), math.ceil(c + reach[i]) + 1
                    if periodic and hi - lo >= n:
                        lo, hi = 0, n
                    idx = torch.arange(lo, hi, device=dev)
                    idx = idx % n if periodic else idx[(idx >= 0) & (idx < n)]
                    d = idx.to(torch.float64) - c
                    if periodic:
                        d = d - n * torch.round(d / n)
                    shape_ax = [-1 if a == ax else 1 for a in range(len(shape))]
                    axes.append(idx.reshape(shape_ax))
                    parts.append((d * d).reshape(shape_ax))
                box = tuple(axes)
                d2 = sum(parts)
                closer = d2 < best[box]
                best[box] = torch.where(closer, d2, best[box])
                owner[box] = torch.where(closer, torch.tensor(int(i), dtype=torch.int32, device=dev), owner[box])
        state.owner[f] = owner
    n = g.n
    flat_owner = state.owner.reshape(-1).long()
    weight = state.eta.reshape(-1).to(torch.float64)
    ok = flat_owner >= 0
    cols = [torch.bincount(flat_owner[ok], weights=weight[ok], minlength=n)]
    idx = torch.arange(math.prod(shape), device=dev)
    sin_cols = []
    for ax in range(len(shape)):
        stride = math.prod(shape[ax + 1:])
        pos = ((idx // stride) % shape[ax]).to(torch.float64).repeat(state.eta.shape[0])
        if periodic:
            ang = 2 * math.pi * pos / shape[ax]
            cols.append(torch.bincount(flat_owner[ok], weights=(weight * torch.cos(ang))[ok], minlength=n))
            sin_cols.append(torch.bincount(flat_owner[ok], weights=(weight * torch.sin(ang))[ok], minlength=n))
        else:
            cols.append(torch.bincount(flat_owner[ok], weights=(weight * pos)[ok], minlength=n))
    return torch.stack(cols + sin_cols, dim=1).cpu().numpy()


def remap_grains(state: State, periodic: bool, margin: float) -> int:
    """Move grains that came too close to a field-mate onto a field with room; returns how many moved."""
    g = state.grains
    shape = state.shape
    size = np.asarray(shape, float)
    alive = g.volume > 1e-6
    radii = np.array([_radius(max(v, 0.0), len(shape)) for v in g.volume])
    d = _min_image(g.centre[:, None, :] - g.centre[None, :, :], size, periodic)
    dist = np.sqrt(np.sum(d * d, axis=-1))
    reach = radii[:, None] + radii[None, :] + margin
    moved = 0
    for i in range(g.n):
        if not alive[i]:
            continue
        mates = (g.field == g.field[i]) & alive & (np.arange(g.n) != i)
        if not np.any(mates & (dist[i] < reach[i])):
            continue
        near = alive & (dist[i] < reach[i])
        busy = set(g.field[near].tolist())
        target = next((f for f in range(state.eta.shape[0]) if f not in busy), None)
        if target is None:  # every field has a grain nearby: add one
            target = state.eta.shape[0]
            state.eta = torch.cat([state.eta, torch.zeros_like(state.eta[:1])])
            state.owner = torch.cat([state.owner, torch.full_like(state.owner[:1], -1)])
        src = int(g.field[i])
        mine = state.owner[src] == i
        state.eta[target] = state.eta[target] + torch.where(mine, state.eta[src], torch.zeros_like(state.eta[src]))
        state.eta[src] = torch.where(mine, torch.zeros_like(state.eta[src]), state.eta[src])
        g.field[i] = target
        moved += 1
        update_owners(state, periodic)
    return moved
