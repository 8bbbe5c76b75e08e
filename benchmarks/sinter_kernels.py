"""Cost of the sintering solver's CPU kernels and of one time step, each against a reference in the same run.

* The grain fields' local reaction (:func:`datarial.sinter._kernels.react`, 2 fields of 512², order 1 and 2)
  against a reference kernel written the straightforward way: one voxel at a time, φ from libm's ``expm1``
  (scalar: numba from PyPI has no SVML), the design the solver used before.  Shortest of 30 calls, and
  the largest difference between the two outputs.
* One step of the 2D benchmark case of ``benchmarks.sinter_speed`` (512², 60 grains in 2 fields): spectral
  (Δt 0.05) with the numba kernels, the same with the local terms in torch, the two ways of keeping the grain
  boundaries accurate at that step (split η in 4 sub-steps, η by SBDF2 in 2), the fastest setting accurate in
  all three accuracies of ``benchmarks.sinter_speed`` (Δt 0.1, α = 0.6 max M, η by SBDF2 in 3 sub-steps), and
  explicit (Δt 0.002), by the fused kernel and in torch operations; one 512² transform each way, of which
  the density step takes three.
* A step with zero-flux walls (2D 512² with 50 grains clear of them, 3D 96³ with 12): spectral by cosine
  transforms of the grid (the CPU's way) and on the mirror-extended grid (the GPU's, 4× / 8× the cells), at
  Δt 0.05 and in the all-accurate setting above, and explicit.
  Shortest of 7 stretches of 10 steps, owner-map updates left out (both methods make them every 20 steps).
* The kernels' loops over one-dimensional views against the same kernels indexing the 2D arrays in their inner
  loops (as written before; LLVM left those loops scalar): :func:`~datarial.sinter._kernels.eta_sbdf2` and
  :func:`~datarial.sinter._kernels.density_terms`, 2 fields of 512², shortest of 30 calls.
* The owner maps and the grains' volumes and centres (:func:`datarial.sinter.state.update_owners`, every
  ``owner_every`` steps): the numba kernels against the same in torch, on the 2D case above and the two 3D
  cases of ``benchmarks.sinter_speed`` (128³ with 24 and with 732 grains, periodic).  Shortest of 5 calls,
  and whether the two give the same owner maps.

Freed memory stays in the heap (:func:`datarial.devices.retain_freed_memory`, applied by the first
``Simulation``) for every timing here; ``benchmarks.sinter_heap`` compares the two heap settings.

Run: ``python -m benchmarks.sinter_kernels [--out NAME]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from numba import njit, prange

from benchmarks._results import write_result
from benchmarks.sinter_speed import packing_2d, packing_3d
from datarial.sinter import _kernels, solver
from datarial.sinter.model import Parameters
from datarial.sinter.packing import random_packing
from datarial.sinter.solver import Simulation, SolverSettings, initial_state, update_owners

RESULTS = Path(__file__).with_name("results")


@njit(parallel=True, cache=True)
def scalar_react(rho, eta, out, L, B, dh, m, second):  # pragma: no cover - compiled
    """The reference: the solver's reaction kernel before the vectorised one (same arithmetic), one voxel at a
    time within blocks of 4096, φ₁ = expm1(z)/z and φ₂ from libm's scalar ``expm1``."""
    nf, n = eta.shape
    c = 12.0 * L * B
    blocks = (n + 4095) // 4096
    for b in prange(blocks):  # scratch arrays once per block of voxels
        e = np.empty(nf)
        pred = np.empty(nf)
        r0 = np.empty(nf)
        zs = np.empty(nf)
        for x in range(b * 4096, min(n, (b + 1) * 4096)):
            r = rho[x]
            for f in range(nf):
                e[f] = eta[f, x]
            for _ in range(m):
                s2 = 0.0
                for f in range(nf):
                    s2 += e[f] * e[f]
                for f in range(nf):
                    v = e[f]
                    r0[f] = -c * ((1.0 - r) * v - (2.0 - r) * v * v + v * s2)
                    z = -dh * c * ((1.0 - r) - 2.0 * (2.0 - r) * v + s2 + 2.0 * v * v)
                    zs[f] = z
                    pred[f] = v + dh * (math.expm1(z) / z if abs(z) > 1e-6 else 1.0 + 0.5 * z) * r0[f]
                if second:
                    q2 = 0.0
                    for f in range(nf):
                        q2 += pred[f] * pred[f]
                    for f in range(nf):
                        v = pred[f]
                        r1 = -c * ((1.0 - r) * v - (2.0 - r) * v * v + v * q2)
                        z = zs[f]
                        phi2 = (math.expm1(z) - z) / (z * z) if abs(z) >= 1e-2 else 0.5 + z * (1.0 / 6.0 + z / 24.0)
                        pred[f] = v + dh * phi2 * (r1 - r0[f] - (z / dh) * (v - e[f]))
                for f in range(nf):
                    e[f] = pred[f]
            for f in range(nf):
                out[f, x] = e[f]


@njit(parallel=True, cache=True)
def indexed_eta_sbdf2(rho, eta, eta_prev, rate_prev, L, B, S, a0, a1, b0, b1, rate, q):  # pragma: no cover
    """The reference: :func:`datarial.sinter._kernels.eta_sbdf2` as it was written before, the same arithmetic
    with the fields indexed as ``eta[f, lo + i]`` in the inner loops instead of through one-dimensional views."""
    nf, n = eta.shape
    c = 12.0 * L * B
    blocks = (n + _kernels.BLOCK - 1) // _kernels.BLOCK
    for blk in prange(blocks):
        lo = blk * _kernels.BLOCK
        w = min(n, lo + _kernels.BLOCK) - lo
        s2 = np.zeros(w, dtype=np.float64)
        for f in range(nf):
            for i in range(w):
                v = np.float64(eta[f, lo + i])
                s2[i] += v * v
        for f in range(nf):
            for i in range(w):
                j = lo + i
                v = np.float64(eta[f, j])
                r = -c * ((1.0 - rho[j]) * v - (2.0 - rho[j]) * v * v + v * s2[i]) + L * S * v
                rate[f, j] = r
                q[f, j] = a0 * v + a1 * eta_prev[f, j] + b0 * r + b1 * rate_prev[f, j]


@njit(parallel=True, cache=True)
def indexed_density_terms(rho, eta, A, B, M_vol, M_vap, M_surf, M_gb, dfdrho, mob):  # pragma: no cover
    """The reference: :func:`datarial.sinter._kernels.density_terms` as it was written before (``eta[f, lo + i]``)."""
    nf, n = eta.shape
    blocks = (n + _kernels.BLOCK - 1) // _kernels.BLOCK
    for b in prange(blocks):
        lo = b * _kernels.BLOCK
        w = min(n, lo + _kernels.BLOCK) - lo
        s1, s2, s3 = np.zeros(w), np.zeros(w), np.zeros(w)
        for f in range(nf):
            for i in range(w):
                v = np.float64(eta[f, lo + i])
                s1[i] += v
                s2[i] += v * v
                s3[i] += v * v * v
        for i in range(w):
            r = np.float64(rho[lo + i])
            dfdrho[lo + i] = 2.0 * A * r * (1.0 - r) * (1.0 - 2.0 * r) + B * (2.0 * r - 6.0 * s2[i] + 4.0 * s3[i])
            c = min(max(r, 0.0), 1.0)
            h = c * c * c * (10.0 - 15.0 * c + 6.0 * c * c)
            mob[lo + i] = M_vol * h + M_vap * (1.0 - h) + M_surf * (c * (1.0 - c)) ** 2 + M_gb * (s1[i] ** 2 - s2[i])


def shortest(call, repeats: int) -> float:
    """Shortest wall time of ``call()`` in seconds over ``repeats`` calls (after one untimed call)."""
    call()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def step_cost(pk, settings: SolverSettings, torch_terms: bool = False, mirrored: bool = False,
              steps: int = 10) -> float:
    """Shortest time per step (s) over 7 stretches of ``steps`` steps; ``mirrored``: a zero-flux spectral step on
    the mirror-extended grid (as on a GPU) instead of by cosine transforms."""
    with solver.mirror_extension() if mirrored else contextlib.nullcontext():
        sim = Simulation(initial_state(pk, settings), Parameters(), settings)
    with solver.without_kernels() if torch_terms else contextlib.nullcontext():
        return shortest(lambda: [sim.step() for _ in range(steps)], 7) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="sinter_kernels", help="name of the result file in benchmarks/results")
    args = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    n = 512 * 512
    rho = rng.uniform(-0.05, 1.05, n)
    eta = rng.uniform(-0.05, 1.05, (2, n))
    eta[1] *= eta[0] < 0.5
    lines = ["# Sintering solver: CPU kernels and step cost", "",
             f"`python -m benchmarks.sinter_kernels` on {platform.machine()}, {os.cpu_count()} cores, "
             f"torch {torch.__version__}, float64.", "",
             "## Grain-field reaction, 2 fields of 512² (one call: half a step of 0.05)", "",
             "| order | sub-steps | vectorised kernel [ms] | scalar expm1 reference [ms] | ratio | largest difference |",
             "|---:|---:|---:|---:|---:|---:|"]
    for order, m in ((1, 1), (2, 2)):
        dh = 0.025 / m
        second = order == 2
        fast, ref = np.empty_like(eta), np.empty_like(eta)
        t_fast = shortest(lambda: _kernels.react(rho, eta, fast, 10.0, 1.0, dh, m, second), 30)  # noqa: B023
        t_ref = shortest(lambda: scalar_react(rho, eta, ref, 10.0, 1.0, dh, m, second), 30)  # noqa: B023
        lines.append(f"| {order} | {m} | {t_fast * 1e3:.2f} | {t_ref * 1e3:.2f} | {t_ref / t_fast:.1f}× | "
                     f"{np.abs(fast - ref).max():.1e} |")
    lines += ["", "Order 2: the reference takes φ₂ from three terms of its series below |z| = 0.01, whose truncation "
              "(z³/120, up to 8e-9) the difference shows; the vectorised φ are within 5e-14 of 80-digit values "
              "(tests/test_sinter.py)."]
    lines += ["", "## Loops over one-dimensional views, 2 fields of 512² (shortest of 30 calls)", "",
              "The kernels' inner loops run over views such as `eta[f, lo:hi]`; the references are the kernels as "
              "written before, indexing `eta[f, lo + i]` (same arithmetic).", "",
              "| kernel | views [ms] | indexed reference [ms] | ratio | largest difference |", "|---|---:|---:|---:|---:|"]
    prev, rate_prev = rng.uniform(-0.05, 1.05, (2, n)), rng.uniform(-5.0, 5.0, (2, n))
    sbdf2_args = (rho, eta, prev, rate_prev, 10.0, 1.0, 12.0, 1.5, -0.5, 0.05, -0.025)
    density_args = (rho, eta, 1.0, 1.0, 0.01, 0.001, 4.0, 0.4)
    for name, fast_k, ref_k, args_ in (("eta_sbdf2", _kernels.eta_sbdf2, indexed_eta_sbdf2, sbdf2_args),
                                       ("density_terms", _kernels.density_terms, indexed_density_terms, density_args)):
        fast, ref = [np.empty_like(eta), np.empty_like(eta)], [np.empty_like(eta), np.empty_like(eta)]
        if name == "density_terms":
            fast, ref = [np.empty(n), np.empty(n)], [np.empty(n), np.empty(n)]
        t_fast = shortest(lambda: fast_k(*args_, *fast), 30)  # noqa: B023
        t_ref = shortest(lambda: ref_k(*args_, *ref), 30)  # noqa: B023
        diff = max(float(np.abs(a - b).max()) for a, b in zip(fast, ref, strict=True))
        lines.append(f"| `{name}` | {t_fast * 1e3:.2f} | {t_ref * 1e3:.2f} | {t_ref / t_fast:.1f}× | {diff:.1e} |")
    pk = packing_2d()
    spec = SolverSettings(dt=0.05, adaptive=False, owner_every=10**9, eta_scheme="split")
    expl = SolverSettings(method="explicit", dt=0.002, adaptive=False, owner_every=10**9)
    rows = [("spectral (numba kernels)", spec, False), ("spectral, local terms in torch", spec, True),
            ("spectral, η split in sub-steps of 0.0125", dataclasses.replace(spec, eta_step=0.0125), False),
            ("spectral, η by SBDF2 in sub-steps of 0.025", dataclasses.replace(spec, eta_scheme="sbdf2"), False),
            ("spectral, α = 0.6 max M, η by SBDF2 in 3 sub-steps",
             dataclasses.replace(spec, dt=0.1, rho_stabiliser=0.6, eta_scheme="sbdf2", eta_step=0.1 / 3), False),
            ("explicit FD", expl, False), ("explicit FD in torch operations", expl, True)]
    costs = {name: step_cost(pk, s, torch_terms) for name, s, torch_terms in rows}
    e = costs["explicit FD"]
    lines += ["", f"## One step, 2D 512², {pk.n} grains (shortest of 7 stretches of 10 steps)", "",
              "| method | Δt | time per step [ms] | in explicit steps | simulated time per wall second | "
              "speed-up |", "|---|---:|---:|---:|---:|---:|"]
    for name, s, _ in rows:
        c = costs[name]
        lines.append(f"| {name} | {s.dt} | {c * 1e3:.2f} | {c / e:.2f} | {s.dt / c:.2f} | "
                     f"{(s.dt / c) / (expl.dt / e):.1f}× |")
    # the spectral step's floor: the transforms of the density step alone (3 forward, 3 back)
    x = torch.rand(pk.labels.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xh, back = torch.fft.rfftn(x), torch.empty_like(x)
    t_fwd = shortest(lambda: torch.fft.rfftn(x, out=xh), 30)
    t_inv = shortest(lambda: torch.fft.irfftn(xh, s=x.shape, out=back), 30)
    ceiling = (0.0667 / expl.dt) * e / (3 * (t_fwd + t_inv))
    lines += ["", f"One 512² transform (float64, shortest of 30): forward {t_fwd * 1e3:.3f} ms, back "
              f"{t_inv * 1e3:.3f} ms. The density step alone takes three of each: {3 * (t_fwd + t_inv) * 1e3:.2f} ms, "
              f"{3 * (t_fwd + t_inv) / e:.2f} explicit steps, so a spectral method at Δt 0.0667 that spent nothing "
              f"else would be at most {ceiling:.1f}× faster than the explicit one."]
    # zero-flux walls: the spectral step by cosine transforms of the grid, or on its mirror extension (4× the
    # cells in 2D, 8× in 3D; the GPU's way), the explicit one mirroring the edge cell
    all_three = dataclasses.replace(spec, dt=0.1, rho_stabiliser=0.6, eta_scheme="sbdf2", eta_step=0.1 / 3)
    n2, n3 = pk.labels.shape[0], 96
    for label, walled, steps in (
            (f"2D {n2}²", random_packing((n2, n2), 50, 20.0, seed=2, overlap=0.15, periodic=False), 10),
            (f"3D {n3}³", random_packing((n3, n3, n3), 12, 10.0, seed=4, overlap=0.15, periodic=False), 2)):
        zero = [("spectral, cosine transforms", spec, False), ("spectral, mirror-extended grid", spec, True),
                ("spectral, α = 0.6 max M, η by SBDF2 in 3 sub-steps, cosine transforms", all_three, False),
                ("spectral, the same on the mirror-extended grid", all_three, True), ("explicit FD", expl, False)]
        walls = {name: step_cost(walled, dataclasses.replace(s_, boundary="zero-flux"), mirrored=m, steps=steps)
                 for name, s_, m in zero}
        ex = walls["explicit FD"]
        lines += ["", f"## One step with zero-flux walls, {label}, {walled.n} grains clear of the walls "
                  f"(shortest of 7 stretches of {steps} steps)", "",
                  "| method | Δt | time per step [ms] | in explicit steps | speed-up |", "|---|---:|---:|---:|---:|"]
        for name, s_, _ in zero:
            c = walls[name]
            lines.append(f"| {name} | {s_.dt:.3g} | {c * 1e3:.2f} | {c / ex:.2f} | {(s_.dt / c) / (expl.dt / ex):.1f}× |")
    lines += ["", "## Owner maps, volumes and centres (`update_owners`, shortest of 5 calls)", "",
              "| case | fields | numba kernels [ms] | torch [ms] | ratio | same owner maps |",
              "|---|---:|---:|---:|---:|---|"]
    for label, packing in (("2D 512², 60 grains", pk),
                           ("3D 128³, 24 grains", packing_3d()), ("3D 128³, 732 grains", packing_3d(128, 732))):
        fast, slow = initial_state(packing, spec), initial_state(packing, spec)
        t_fast = shortest(lambda: update_owners(fast, True), 5)  # noqa: B023
        with solver.without_kernels():
            t_slow = shortest(lambda: update_owners(slow, True), 5)  # noqa: B023
        lines.append(f"| {label} | {fast.eta.shape[0]} | {t_fast * 1e3:.1f} | {t_slow * 1e3:.1f} | "
                     f"{t_slow / t_fast:.1f}× | {'yes' if torch.equal(fast.owner, slow.owner) else 'no'} |")
    write_result(RESULTS, args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
