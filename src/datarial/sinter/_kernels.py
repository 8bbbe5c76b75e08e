"""Numba kernel for the local Allen–Cahn reaction of the spectral step (CPU).

The torch version (:meth:`datarial.sinter.solver.Simulation._react`) makes about
thirty passes over all fields per sub-step; this kernel keeps one voxel's fields
in registers for all sub-steps, so it reads and writes each value once.  Same
arithmetic: every field of a voxel is updated from the sums Σηⱼ² of the start
of the sub-step (Jacobi), by exponential Euler (and, for ``order=2``, the
ETD2RK corrector).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MAX_FIELDS = 64
BLOCK = 4096  # voxels per parallel work item


@njit(inline="always", cache=True)
def _rate(v, r, s2, L, B):  # pragma: no cover - compiled
    """−L ∂f/∂ηᵢ of one field value v at density r, with s2 = Σηⱼ²."""
    return -L * 12.0 * B * ((1.0 - r) * v - (2.0 - r) * v * v + v * s2)


@njit(parallel=True, cache=True)
def react(rho, eta, out, L, B, dh, m, second):  # pragma: no cover - compiled
    """``m`` sub-steps of dη/dt = −L ∂f/∂η of length ``dh``; rho (N,), eta and out (F, N).

    Exponential Euler on the diagonal stiffness a (z = dh a); with ``second``
    the ETD2RK corrector dh φ₂(z)(R(η*) − R − a(η* − η)) on top (second order).
    """
    nf, n = eta.shape
    blocks = (n + BLOCK - 1) // BLOCK
    for b in prange(blocks):  # scratch arrays once per block of voxels, not once per voxel
        e = np.empty(nf, dtype=eta.dtype)
        pred = np.empty(nf, dtype=eta.dtype)
        r0 = np.empty(nf, dtype=np.float64)  # rates and z stay in double, as the scalars were
        zs = np.empty(nf, dtype=np.float64)
        for x in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            r = rho[x]
            for f in range(nf):
                e[f] = eta[f, x]
            for _ in range(m):
                s2 = 0.0
                for f in range(nf):
                    s2 += e[f] * e[f]
                for f in range(nf):
                    v = e[f]
                    r0[f] = _rate(v, r, s2, L, B)
                    z = -dh * L * 12.0 * B * ((1.0 - r) - 2.0 * (2.0 - r) * v + s2 + 2.0 * v * v)
                    zs[f] = z
                    phi = math.expm1(z) / z if abs(z) > 1e-6 else 1.0 + 0.5 * z
                    pred[f] = v + dh * phi * r0[f]
                if second:
                    q2 = 0.0
                    for f in range(nf):
                        q2 += pred[f] * pred[f]
                    for f in range(nf):
                        v = pred[f]
                        r1 = _rate(v, r, q2, L, B)
                        z = zs[f]
                        phi2 = (math.expm1(z) - z) / (z * z) if abs(z) >= 1e-2 else 0.5 + z * (1.0 / 6.0 + z / 24.0)
                        pred[f] = v + dh * phi2 * (r1 - r0[f] - (z / dh) * (v - e[f]))
                for f in range(nf):
                    e[f] = pred[f]
            for f in range(nf):
                out[f, x] = e[f]
