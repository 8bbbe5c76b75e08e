"""Numba kernel for the local Allen–Cahn reaction of the spectral step (CPU).

The torch version (:meth:`datarial.sinter.solver.Simulation._react`) makes about
thirty passes over all fields per sub-step; this kernel keeps one voxel's fields
in registers for all sub-steps, so it reads and writes each value once.  Same
arithmetic: every field of a voxel is updated from the sums Σηⱼ² of the start
of the sub-step (Jacobi), by exponential Euler.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MAX_FIELDS = 64


@njit(parallel=True, cache=True)
def react(rho, eta, out, L, B, dh, m):  # pragma: no cover - compiled
    """``m`` sub-steps of dη/dt = −L ∂f/∂η of length ``dh``; rho (N,), eta and out (F, N)."""
    nf, n = eta.shape
    for x in prange(n):
        r = rho[x]
        e = np.empty(nf, dtype=eta.dtype)
        for f in range(nf):
            e[f] = eta[f, x]
        for _ in range(m):
            s2 = 0.0
            for f in range(nf):
                s2 += e[f] * e[f]
            for f in range(nf):
                v = e[f]
                rate = -L * 12.0 * B * ((1.0 - r) * v - (2.0 - r) * v * v + v * s2)
                z = -dh * L * 12.0 * B * ((1.0 - r) - 2.0 * (2.0 - r) * v + s2 + 2.0 * v * v)
                phi = math.expm1(z) / z if abs(z) > 1e-6 else 1.0 + 0.5 * z
                e[f] = v + dh * phi * rate
        for f in range(nf):
            out[f, x] = e[f]
