"""Trapped field of fully magnetised bulk superconducting disks and disk stacks.

A fully penetrated disk carries an azimuthal current density J(r, z) = Jc
everywhere.  On the axis, the Biot–Savart integral of a uniform annulus
r1 ≤ r ≤ r2, z1 ≤ z ≤ z2 has a closed form (integrate the loop field
μ0 I r² / 2(r² + h²)^{3/2} over r, then over h = z − z'):

    B_z(z) = μ0 J / 2 · [F(r2, z − z1) − F(r2, z − z2) − F(r1, z − z1) + F(r1, z − z2)],
    F(r, h) = h · ln((r + √(r² + h²)) / |h|),

so the on-axis field of any piecewise-uniform current distribution is exact
(for one disk, radius R and thickness t, at the top surface centre:
μ0 Jc t/2 · ln((R + √(R² + t²))/t)).

With a field-dependent Jc(B) (a measured curve or the Kim model
Jc0 / (1 + |B|/B0)) the current density depends on the local field, which
depends on the currents: the disks are cut into rings, the field at every
ring centre is the sum of the exact fields of circular loops (complete
elliptic integrals; 4 × 4 Gauss filaments per ring), and J = Jc(|B|) is
iterated to a fixed point.  All quantities SI: m, T, A/m².
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ellipe, ellipk

from datarial.errors import DatarialError
from datarial.units import MU0

JcOfB = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Disk:
    """A disk of ``radius`` and ``thickness`` [m] whose bottom face is at height ``z0`` [m]."""

    radius: float
    thickness: float
    z0: float = 0.0

    @property
    def z1(self) -> float:
        return self.z0 + self.thickness


def disk_stack(radius: float, thickness: float, n_disks: int = 1, gap: float = 0.0) -> list[Disk]:
    """``n_disks`` equal disks stacked along the axis with ``gap`` between neighbours."""
    if radius <= 0 or thickness <= 0:
        raise DatarialError("disk radius and thickness must be positive")
    if n_disks < 1:
        raise DatarialError("at least one disk")
    if gap < 0:
        raise DatarialError("the gap cannot be negative")
    return [Disk(radius, thickness, k * (thickness + gap)) for k in range(n_disks)]


def _F(r: np.ndarray | float, h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=float)
    r = np.broadcast_to(np.asarray(r, dtype=float), h.shape)
    out = np.zeros(np.broadcast(r, h).shape)
    nz = np.abs(h) > 0
    hh, rr = h[nz], r[nz]
    out[nz] = hh * np.log((rr + np.hypot(rr, hh)) / np.abs(hh))
    return out


def annulus_axial_field(z: np.ndarray, r1: float, r2: float, z1: float, z2: float, j: float = 1.0) -> np.ndarray:
    """Exact B_z [T] on the axis at heights ``z`` of a uniform annulus with current density ``j`` [A/m²]."""
    z = np.asarray(z, dtype=float)
    return 0.5 * MU0 * j * (_F(r2, z - z1) - _F(r2, z - z2) - _F(r1, z - z1) + _F(r1, z - z2))


def axial_field_uniform(disks: Sequence[Disk], jc: float, z: np.ndarray) -> np.ndarray:
    """On-axis B_z [T] of fully penetrated disks with uniform Jc [A/m²] (exact)."""
    z = np.asarray(z, dtype=float)
    return sum(annulus_axial_field(z, 0.0, d.radius, d.z0, d.z1, jc) for d in disks)


def simple_estimate(jc: float, radius: float) -> float:
    """B_T = μ0 Jc r [T]: the centre field of an infinitely long cylinder (geometric factor A = 1)."""
    return MU0 * jc * radius


def loop_field(a: np.ndarray, zc: np.ndarray, current: np.ndarray, r: np.ndarray, z: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(B_r, B_z) [T] at points (r, z) of circular loops of radius ``a`` at height ``zc`` carrying ``current`` [A].

    Arrays broadcast against each other; exact (complete elliptic integrals).
    """
    a, zc, current, r, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, zc, current, r, z)))
    dz = z - zc
    alpha2 = (a - r) ** 2 + dz**2
    beta2 = (a + r) ** 2 + dz**2
    beta = np.sqrt(beta2)
    m = np.where(beta2 > 0, 1.0 - alpha2 / beta2, 0.0)  # k²
    m = np.clip(m, 0.0, 1.0 - 1e-15)
    K, E = ellipk(m), ellipe(m)
    c = MU0 * current / (2.0 * np.pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        bz = c / beta * (K + (a**2 - r**2 - dz**2) / alpha2 * E)
        br = np.where(r > 0, c * dz / (r * beta) * (-K + (a**2 + r**2 + dz**2) / alpha2 * E), 0.0)
    return br, bz


def kim_model(jc0: float, b0: float) -> JcOfB:
    """Kim model Jc(B) = Jc0 / (1 + |B|/B0) [A/m², B in T]."""
    if jc0 <= 0 or b0 <= 0:
        raise DatarialError("Kim model: Jc0 and B0 must be positive")
    return lambda b: jc0 / (1.0 + np.abs(b) / b0)


def tabulated_jc(field: np.ndarray, jc: np.ndarray) -> JcOfB:
    """Jc(B) from a measured curve (B [T], Jc [A/m²]); log-linear interpolation, held constant outside."""
    f = np.asarray(field, dtype=float)
    j = np.asarray(jc, dtype=float)
    ok = np.isfinite(f) & np.isfinite(j) & (j > 0)
    if ok.sum() < 2:
        raise DatarialError("the Jc(B) curve needs at least two points with Jc > 0")
    order = np.argsort(f[ok])
    f, logj = f[ok][order], np.log(j[ok][order])
    return lambda b: np.exp(np.interp(np.abs(b), f, logj))


@dataclass(frozen=True)
class TrappedField:
    """Solution: on-axis profile, ring currents, and the fields at the points that matter."""

    disks: tuple[Disk, ...]
    z: np.ndarray  # on-axis heights [m]
    bz: np.ndarray  # on-axis field [T]
    ring_r: np.ndarray  # ring centres [m]
    ring_z: np.ndarray
    ring_j: np.ndarray  # current density of each ring [A/m²]
    ring_edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # r1, r2, z1, z2 [m]
    iterations: int

    def at(self, z: float | np.ndarray) -> np.ndarray:
        """On-axis field [T] at heights z (exact for the solved ring currents)."""
        return _axial_from_rings(self.ring_edges, self.ring_j, np.atleast_1d(np.asarray(z, dtype=float)))

    def key_points(self) -> dict[str, float]:
        """Heights [m]: top-surface centre, stack centre, and (for pairs) the gap centre."""
        top = max(d.z1 for d in self.disks)
        bottom = min(d.z0 for d in self.disks)
        if len(self.disks) == 2:  # the pair's centre is the centre of its gap
            return {"top surface": top, "gap centre": 0.5 * (self.disks[0].z1 + self.disks[1].z0)}
        return {"top surface": top, "stack centre": 0.5 * (top + bottom)}


def _rings(disks: Sequence[Disk], n_r: int, n_z: int) -> tuple[np.ndarray, ...]:
    r1, r2, z1, z2 = [], [], [], []
    for d in disks:
        er = np.linspace(0.0, d.radius, n_r + 1)
        ez = np.linspace(d.z0, d.z1, n_z + 1)
        R1, Z1 = np.meshgrid(er[:-1], ez[:-1], indexing="ij")
        R2, Z2 = np.meshgrid(er[1:], ez[1:], indexing="ij")
        r1.append(R1.ravel())
        r2.append(R2.ravel())
        z1.append(Z1.ravel())
        z2.append(Z2.ravel())
    return tuple(np.concatenate(v) for v in (r1, r2, z1, z2))


def _axial_from_rings(edges, j: np.ndarray, z: np.ndarray) -> np.ndarray:
    r1, r2, z1, z2 = (e[:, None] for e in edges)
    zz = z[None, :]
    per_ring = 0.5 * MU0 * j[:, None] * (_F(r2, zz - z1) - _F(r2, zz - z2) - _F(r1, zz - z1) + _F(r1, zz - z2))
    return per_ring.sum(axis=0)


def _influence(r1, r2, z1, z2, order: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Matrices (N, N): B_r, B_z at ring centres per unit current density in each ring."""
    x, w = np.polynomial.legendre.leggauss(order)
    rc, zc = 0.5 * (r1 + r2), 0.5 * (z1 + z2)
    n = len(rc)
    Gr = np.zeros((n, n))
    Gz = np.zeros((n, n))
    for i in range(order):
        for k in range(order):
            a = rc + 0.5 * (r2 - r1) * x[i]
            zf = zc + 0.5 * (z2 - z1) * x[k]
            current = (r2 - r1) * (z2 - z1) * 0.25 * w[i] * w[k]  # per unit J
            br, bz = loop_field(a[None, :], zf[None, :], current[None, :], rc[:, None], zc[:, None])
            Gr += br
            Gz += bz
    return Gr, Gz


def solve_trapped_field(disks: Sequence[Disk], jc: float | JcOfB, *, n_r: int = 24, n_z: int = 8,
                        z: np.ndarray | None = None, tol: float = 1e-6, max_iter: int = 500) -> TrappedField:
    """Trapped field of fully magnetised ``disks`` with uniform ``jc`` [A/m²] or ``jc(|B|)``.

    For a number the currents are uniform and the on-axis field is exact.  For
    a function the ring currents are iterated to J = Jc(|B|) (damped fixed point).
    """
    disks = tuple(disks)
    if not disks:
        raise DatarialError("no disks given")
    r1, r2, z1, z2 = _rings(disks, n_r, n_z)
    iterations = 0
    if callable(jc):
        Gr, Gz = _influence(r1, r2, z1, z2)
        j = np.asarray(jc(np.zeros(len(r1))), dtype=float) * np.ones(len(r1))
        for step in range(1, max_iter + 1):
            iterations = step
            b = np.hypot(Gr @ j, Gz @ j)
            j_new = np.asarray(jc(b), dtype=float)
            if np.any(~np.isfinite(j_new)) or np.any(j_new < 0):
                raise DatarialError("Jc(B) returned a negative or non-finite value")
            change = np.max(np.abs(j_new - j)) / max(np.max(np.abs(j_new)), 1e-300)
            j = 0.5 * j + 0.5 * j_new
            if change < tol:
                break
        else:
            raise DatarialError(f"the self-consistent Jc(B) solution did not converge in {max_iter} iterations")
    else:
        if jc <= 0:
            raise DatarialError("Jc must be positive")
        j = np.full(len(r1), float(jc))
    top = max(d.z1 for d in disks)
    bottom = min(d.z0 for d in disks)
    span = top - bottom
    R = max(d.radius for d in disks)
    if z is None:
        z = np.linspace(bottom - 0.5 * R - 0.25 * span, top + 0.5 * R + 0.25 * span, 241)
    z = np.asarray(z, dtype=float)
    edges = (r1, r2, z1, z2)
    return TrappedField(disks, z, _axial_from_rings(edges, j, z), 0.5 * (r1 + r2), 0.5 * (z1 + z2),
                        j, edges, iterations)


def jc_for_target(disks: Sequence[Disk], target: float, z: float, jc_model: JcOfB | None = None,
                  **solver) -> float:
    """The Jc [A/m²] that traps ``target`` [T] at height z.

    Without ``jc_model``: the uniform Jc (exact, the field is linear in Jc).
    With one: ``jc_model`` is rescaled, keeping its shape in B, and the zero-field
    Jc of the rescaled model is returned (solved self-consistently).
    """
    if target <= 0:
        raise DatarialError("the target field must be positive")
    unit = float(axial_field_uniform(disks, 1.0, np.array([z]))[0])
    if unit <= 0:
        raise DatarialError("the field at that point is not along +z for positive Jc")
    if jc_model is None:
        return target / unit
    from scipy.optimize import brentq

    jc_zero = float(jc_model(np.array([0.0]))[0])

    def jc_shape(b):
        return jc_model(b) / jc_zero

    def miss(log_scale: float) -> float:
        s = np.exp(log_scale)
        return float(solve_trapped_field(disks, lambda b: s * jc_shape(b), z=np.array([z]), **solver).bz[0]) - target

    guess = np.log(target / unit / float(jc_shape(np.array([0.0]))[0]))
    lo, hi = guess - 1.0, guess + 1.0
    while miss(hi) < 0:
        hi += 1.0
    while miss(lo) > 0:
        lo -= 1.0
    s = np.exp(brentq(miss, lo, hi, xtol=1e-6))
    return float(s * jc_shape(np.array([0.0]))[0])
