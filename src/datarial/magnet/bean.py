"""Critical current density from magnetization loops: the extended Bean model.

For a fully penetrated sample in the critical state the width of the
hysteresis loop ΔM(H) = M↓(H) − M↑(H) is set by Jc.  For a rectangular
prism a × b × c with the field along c and a ≤ b (Chen & Goldfarb 1989;
Gyorgy et al. 1989):

    Jc = 20 ΔM / (a (1 − a/3b))      [A/cm²; ΔM in emu/cm³, a, b in cm]
    Jc = 2 ΔM / (a (1 − a/3b))       [SI: A/m²; ΔM in A/m, a, b in m]

Square cross-section: a = b gives Jc = 30 ΔM/a.  Cylinder of diameter d with
the field along its axis: Jc = 30 ΔM / d (emu/cm³, cm).

Everything here is SI (m, T, A/m, A/m²); :class:`JcCurve` offers A/cm² too.
The field axis is the applied field μ0H in tesla.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from datarial.errors import DatarialError

Geometry = Literal["rectangular", "square", "cylinder"]


@dataclass(frozen=True)
class Sample:
    """Sample geometry in metres: rectangular a × b × c (field ∥ c) or cylinder d × h (field ∥ axis)."""

    geometry: Geometry
    dims: tuple[float, ...]

    @classmethod
    def rectangular(cls, a: float, b: float, c: float) -> Sample:
        a, b = sorted((a, b))  # a ≤ b: the model needs the shorter in-plane side first
        return cls("rectangular", (a, b, c))

    @classmethod
    def cylinder(cls, diameter: float, height: float) -> Sample:
        return cls("cylinder", (diameter, height))

    @classmethod
    def from_dims(cls, dims: tuple[float, ...], geometry: Geometry = "rectangular") -> Sample:
        if geometry == "cylinder":
            if len(dims) != 2:
                raise DatarialError("a cylinder needs diameter x height")
            return cls.cylinder(*dims)
        if geometry == "square":
            if len(dims) != 2:
                raise DatarialError("a square sample needs side x height (field along the height)")
            return cls("square", (dims[0], dims[0], dims[1]))
        if len(dims) != 3:
            raise DatarialError("a rectangular sample needs a x b x c (field along c)")
        return cls.rectangular(*dims)

    @property
    def volume(self) -> float:
        """Volume [m³]."""
        if self.geometry == "cylinder":
            d, h = self.dims
            return np.pi * d**2 / 4 * h
        a, b, c = self.dims
        return a * b * c

    def jc_per_delta_m(self) -> float:
        """Factor turning ΔM [A/m] into Jc [A/m²] for this geometry."""
        if self.geometry == "cylinder":
            return 3.0 / self.dims[0]
        a, b, _ = self.dims
        return 2.0 / (a * (1.0 - a / (3.0 * b)))

    def describe(self) -> str:
        mm = [f"{d * 1e3:g}" for d in self.dims]
        if self.geometry == "cylinder":
            return f"cylinder d={mm[0]} mm, h={mm[1]} mm (field along the axis)"
        return f"{self.geometry} {' x '.join(mm)} mm (field along the last)"


@dataclass(frozen=True)
class Branch:
    """One monotonic field sweep: field [T] and magnetization [A/m], sorted by field."""

    direction: Literal["up", "down"]
    field: np.ndarray
    magnetization: np.ndarray
    start: int
    stop: int


@dataclass(frozen=True)
class JcCurve:
    """Jc(B) of one loop: applied field [T] ≥ 0 and Jc [A/m²]; ΔM [A/m]."""

    field: np.ndarray
    jc: np.ndarray
    delta_m: np.ndarray
    sample: Sample
    branches: tuple[Branch, Branch]
    virgin_ignored: bool

    @property
    def jc_A_per_cm2(self) -> np.ndarray:
        return self.jc / 1e4

    def at(self, fields: float | np.ndarray) -> np.ndarray:
        """Jc [A/m²] at applied field(s) [T] (linear interpolation; NaN outside the loop)."""
        f = np.atleast_1d(np.asarray(fields, dtype=float))
        return np.interp(np.abs(f), self.field, self.jc, left=np.nan, right=np.nan)


def split_branches(field: np.ndarray, magnetization: np.ndarray, rel_tol: float = 1e-4) -> list[Branch]:
    """Split a sweep into monotonic branches (steps smaller than ``rel_tol``·range join the current one)."""
    ok = np.isfinite(field) & np.isfinite(magnetization)
    idx = np.flatnonzero(ok)
    f, m = field[ok], magnetization[ok]
    if len(f) < 4:
        raise DatarialError("the loop has fewer than 4 valid points")
    tol = rel_tol * (np.nanmax(f) - np.nanmin(f) or 1.0)
    dirs = np.sign(np.where(np.abs(np.diff(f)) > tol, np.diff(f), 0.0))
    # Points on a plateau inherit the direction of the sweep around them.
    for i in range(1, len(dirs)):
        if dirs[i] == 0:
            dirs[i] = dirs[i - 1]
    for i in range(len(dirs) - 2, -1, -1):
        if dirs[i] == 0:
            dirs[i] = dirs[i + 1]
    branches, start = [], 0
    for i in range(1, len(dirs) + 1):
        if i == len(dirs) or dirs[i] != dirs[start]:
            seg = slice(start, i + 1)
            if dirs[start] != 0 and i + 1 - start >= 3:
                order = np.argsort(f[seg], kind="stable")
                branches.append(Branch("up" if dirs[start] > 0 else "down", f[seg][order], m[seg][order],
                                       int(idx[start]), int(idx[i])))
            start = i
    return branches


def _pick(branches: list[Branch], direction: str, skip_virgin: bool) -> tuple[Branch | None, bool]:
    cands = [b for b in branches if b.direction == direction]
    virgin = False
    if skip_virgin and cands and len(cands) > 1:
        first = cands[0]
        span = max(abs(first.field).max(), 1e-12)
        if branches[0] is first and np.min(np.abs(first.field)) < 0.05 * span:
            cands = cands[1:]
            virgin = True
    if not cands:
        return None, virgin
    return max(cands, key=lambda b: b.field.max() - b.field.min()), virgin


def jc_from_loop(field: np.ndarray, moment_emu: np.ndarray, sample: Sample, *, n_grid: int = 400,
                 ignore_virgin: bool = True) -> JcCurve:
    """Jc(B) from an M–H loop: field μ0H [T], moment [emu] and the sample geometry.

    The decreasing- and increasing-field branches are interpolated on a common
    field grid over their overlap; the virgin branch (the first sweep up from
    zero field) is ignored.  Fields of both signs are folded to |B| by
    averaging ΔM(+B) and ΔM(−B) where both exist.
    """
    field = np.asarray(field, dtype=float)
    magnetization = np.asarray(moment_emu, dtype=float) * 1e-3 / sample.volume  # emu → A m², / m³ → A/m
    branches = split_branches(field, magnetization)
    down, _ = _pick(branches, "down", False)
    up, virgin = _pick(branches, "up", ignore_virgin)
    if down is None or up is None:
        raise DatarialError("the loop needs both a decreasing- and an increasing-field branch "
                            f"(found: {', '.join(b.direction for b in branches) or 'none'})")
    lo = max(down.field.min(), up.field.min())
    hi = min(down.field.max(), up.field.max())
    if hi <= lo:
        raise DatarialError("the two branches of the loop do not overlap in field")
    grid = np.linspace(lo, hi, n_grid)
    dm = _interp_branch(down, grid) - _interp_branch(up, grid)
    if np.nanmedian(dm) < 0:  # a loop recorded with the opposite sign convention
        dm = -dm
    # Fold ±B: Jc depends on |B|.
    top = max(abs(lo), abs(hi))
    fgrid = np.linspace(0.0, top, n_grid)
    pos = np.interp(fgrid, grid, dm, left=np.nan, right=np.nan)
    neg = np.interp(-fgrid, grid, dm, left=np.nan, right=np.nan)
    folded = np.nanmean(np.vstack([pos, neg]), axis=0)
    keep = np.isfinite(folded)
    folded, fgrid = folded[keep], fgrid[keep]
    jc = np.clip(folded, 0.0, None) * sample.jc_per_delta_m()
    return JcCurve(fgrid, jc, folded, sample, (down, up), virgin)


def _interp_branch(branch: Branch, grid: np.ndarray) -> np.ndarray:
    f, m = branch.field, branch.magnetization
    uf, inv = np.unique(f, return_inverse=True)
    um = np.bincount(inv, weights=m) / np.bincount(inv)
    return np.interp(grid, uf, um)


def bean_loop(jc_of_b, sample: Sample, b_max: float = 7.0, n: int = 400, penetration_field: float = 0.05,
              background=None, virgin: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic M–H loop of a sample with critical current density ``jc_of_b(|B|)`` [A/m²].

    Returns (field μ0H [T], moment [emu]) for the sweep 0 → +b_max → −b_max → +b_max.
    The critical-state magnetization ±Jc/factor is approached over
    ``penetration_field`` after each reversal; ``background(H)`` [A/m] adds a
    reversible part (equal on both branches).  Used by tests and examples.
    """
    legs = []
    if virgin:
        legs.append(np.linspace(0.0, b_max, n // 2))
    legs += [np.linspace(b_max, -b_max, n), np.linspace(-b_max, b_max, n)]
    field = np.concatenate(legs)
    m = np.empty_like(field)
    k = 0
    for leg in legs:
        direction = 1.0 if leg[-1] > leg[0] else -1.0
        turn = leg[0]
        for h in leg:
            m_c = jc_of_b(abs(h)) / sample.jc_per_delta_m() / 2.0  # |M| in the critical state = ΔM/2
            m[k] = -direction * m_c * (1.0 - np.exp(-abs(h - turn) / penetration_field))
            if background is not None:
                m[k] += background(h)
            k += 1
    moment_emu = m * sample.volume * 1e3
    return field, moment_emu
