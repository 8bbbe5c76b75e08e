"""Long runs of the sintering solver: the adaptive spectral step against the explicit reference.

``benchmarks.sinter_speed`` compares the methods to t = 2, where the adaptive control still takes short steps
after the start.  A sintering run goes on for tens to thousands of time units, where its steps reach ``dt_max``
(0.4 by default) and the cost per unit of time is that of the grain fields' SBDF2 sub-steps (at most 0.25/(L B),
0.025 by default: a forward and an inverse transform per field each).  This benchmark runs the 2D case of
``sinter_speed`` (512², 60 grains, periodic) to ``--t-end`` (20 by default, ten times its span there), or with
``--dim 3`` its 3D case (128³, 24 grains, periodic; to t = 5 by default, as its reference takes about 0.14 s per
step of 0.002), with

* the explicit finite-difference reference (fused numba kernel, Δt 0.002, float64; owner maps once per time
  unit, as in ``sinter_speed``);
* the adaptive spectral control with its defaults, with its steps capped at 0.1 and at 1 (``dt_max``), the
  default and the 0.1 cap in float32, and with the grain fields' SBDF2 sub-steps as long as boundary motion
  allows at the explicit reference's accuracy (the largest of ``eta_step`` 0.05, 0.04, 0.0333 whose shrinking
  grain of ``benchmarks.sinter_split`` is off by no more than the explicit one's; the default, 0.025, is within
  about 2 %), alone and with the 0.1 cap, in float64 and float32.

Accuracy against a spectral run with the fixed step 0.002 (η split, float64; converged in time, as in
``sinter_speed``): mean and largest |ρ − ρ_ref|, the boundary layer Σ Σ_{i≠j}ηᵢηⱼ relative to the reference's, and
the change of Σρ (mass) over the run.  Wall: the shortest of ``--repeats`` timings of each run, round-robin; the
speed-up is of the shortest times, in brackets the median and range of the ratios within each round.  The share
of each spectral run's time spent in the grain-field step is measured in a further, untimed run.

Run: ``PYTHONPATH=. python -m benchmarks.sinter_long [--dim 2|3] [--t-end T] [--repeats 3] [--quick] [--out NAME]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from benchmarks._results import speedup, write_result
from benchmarks.sinter_speed import boundary_layer, packing_2d, packing_3d, timed_run
from benchmarks.sinter_split import shrink_rate
from datarial.sinter import solver
from datarial.sinter.grain_step import sbdf2_sub_step
from datarial.sinter.model import Parameters
from datarial.sinter.solver import Simulation, SolverSettings, initial_state

RESULTS = Path(__file__).with_name("results")
# grain-field sub-steps tried for the row as accurate in boundary motion as the explicit reference (largest first)
ETA_STEPS = (0.05, 0.04, 0.0333)


@contextlib.contextmanager
def grain_step_timer() -> Iterator[list[float]]:
    """Within the block the spectral grain-field steps of every Simulation add their wall time (s) to the yielded
    list's one element."""
    spent = [0.0]
    saved = {name: getattr(Simulation, name) for name in ("_eta_sbdf2", "_eta_split")}

    def timed(method):
        def wrapper(self, *args, **kw):
            t0 = time.perf_counter()
            try:
                return method(self, *args, **kw)
            finally:
                spent[0] += time.perf_counter() - t0
        return wrapper

    try:
        for name, method in saved.items():
            setattr(Simulation, name, timed(method))
        yield spent
    finally:
        for name, method in saved.items():
            setattr(Simulation, name, method)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_long", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=2, choices=(2, 3), help="the 2D case (512²) or the 3D one (128³)")
    ap.add_argument("--t-end", type=float, default=None,
                    help="simulated time of every run (reduced units; 20 in 2D, 5 in 3D by default)")
    ap.add_argument("--repeats", type=int, default=3, help="timings of each run, round-robin")
    ap.add_argument("--quick", action="store_true", help="256² (15 grains) or 64³ instead of 512² or 128³")
    ap.add_argument("--out", help="name of the result file in benchmarks/results (default sinter_long[_3d][_quick])")
    args = ap.parse_args(argv)
    default_end = 20.0 if args.dim == 2 else 5.0
    t_end = default_end if args.t_end is None else args.t_end
    if t_end <= 0:
        ap.error("--t-end: a positive simulated time")
    if args.repeats < 1:
        ap.error("--repeats: a whole number ≥ 1")
    torch.set_num_threads(os.cpu_count() or 1)
    if args.dim == 2:
        n = 256 if args.quick else 512
        pk, case = packing_2d(n), f"2D, {n}²"
    else:
        n = 64 if args.quick else 128
        pk, case = packing_3d(n), f"3D, {n}³"
    runs = {
        "explicit": ("explicit FD (fused kernel), float64", SolverSettings(
            method="explicit", dt=0.002, adaptive=False, owner_every=500)),
        "adapt": ("spectral, adaptive (defaults), float64", SolverSettings()),
        "cap01": ("spectral, adaptive, `dt_max: 0.1`, float64", SolverSettings(dt_max=0.1)),
        "cap1": ("spectral, adaptive, `dt_max: 1`, float64", SolverSettings(dt_max=1.0)),
        "adapt32": ("spectral, adaptive (defaults), float32", SolverSettings(dtype="float32")),
        "cap01_32": ("spectral, adaptive, `dt_max: 0.1`, float32", SolverSettings(dt_max=0.1, dtype="float32")),
    }
    if solver._cpu_kernels() is not None:  # compile (or load from numba's cache) outside the timings
        for dtype in ("float64", "float32"):
            timed_run(pk, SolverSettings(dt=0.4, adaptive=False, dtype=dtype), 0.4)
        timed_run(pk, runs["explicit"][1], 0.002)
    shrunk: dict[tuple, float] = {}

    def motion(s: SolverSettings) -> float:
        """k / 2Lκ_η of a grain shrinking inside another (``sinter_split.shrink_rate``: 96², float64) at the longest
        grain-field step of ``s`` (its SBDF2 sub-step, fixed; the adaptive control, which in the packing's run takes
        steps of several sub-steps, keeps the shrinking grain's steps short); one run per distinct step."""
        if s.method == "explicit":
            key, kw = (s.method, s.dt, s.order), {"method": "explicit"}
        else:
            h = s.eta_step or sbdf2_sub_step(Parameters())
            key, kw = (s.method, h, s.order, s.eta_scheme), {"eta_step": h, "eta_scheme": s.eta_scheme}
        if key not in shrunk:
            shrunk[key] = shrink_rate(key[1], s.order, **kw)
        return shrunk[key]

    # the largest SBDF2 sub-step whose boundaries move as accurately as the explicit reference's
    tried = []
    for h in ETA_STEPS:
        tried.append((h, motion(SolverSettings(eta_step=h))))
        if abs(tried[-1][1] - 1.0) <= abs(motion(runs["explicit"][1]) - 1.0):
            for key, dtype, cap in (("sub", "float64", None), ("sub32", "float32", None),
                                    ("sub_cap", "float64", 0.1), ("sub_cap32", "float32", 0.1)):
                what = f"`eta_step: {h:g}`" + (f", `dt_max: {cap:g}`" if cap else "")
                runs[key] = (f"spectral, adaptive, {what}, {dtype}",
                             SolverSettings(eta_step=h, dtype=dtype, **({"dt_max": cap} if cap else {})))
            break
    mass0 = float(initial_state(pk, SolverSettings()).rho.sum())
    ref, w_ref = timed_run(pk, SolverSettings(dt=0.002, adaptive=False, eta_scheme="split"), t_end)
    layer_ref = boundary_layer(ref)
    walls: dict[str, list[float]] = {key: [] for key in runs}
    last: dict = {}
    for _ in range(args.repeats):
        for key, (_, settings) in runs.items():
            last[key], wall = timed_run(pk, settings, t_end)
            walls[key].append(wall)
    shares = {}
    for key, (_, settings) in runs.items():
        if settings.method == "spectral":
            with grain_step_timer() as spent:
                _, wall = timed_run(pk, settings, t_end)
            shares[key] = spent[0] / wall

    rows = []
    for key, (label, settings) in runs.items():
        sim = last[key]
        rho = sim.state.rho.double()
        diff = (rho - ref.state.rho).abs()
        steps = f"{sim.state.steps}" + (f" (last Δt {sim.dt:.3g})" if settings.adaptive else f" (Δt {settings.dt:g})")
        rows.append(f"| {label} | {steps} | {min(walls[key]):.2f} | {float(diff.mean()):.2e} | {float(diff.max()):.3f} "
                    f"| {boundary_layer(sim) / layer_ref - 1.0:+.1%} | {motion(settings):.3f} "
                    f"| {float(rho.sum()) / mass0 - 1.0:+.1e} "
                    f"| {f'{shares[key]:.0%}' if key in shares else '—'} | {speedup(walls['explicit'], walls[key])} |")
    lines = ["# Sintering solver, long runs: adaptive spectral vs explicit finite differences", "",
             f"`PYTHONPATH=. python -m benchmarks.sinter_long{' --dim 3' if args.dim == 3 else ''}"
             f"{' --quick' if args.quick else ''}{f' --t-end {t_end:g}' if t_end != default_end else ''}"
             f"{f' --repeats {args.repeats}' if args.repeats != 3 else ''}{' --out ' + args.out if args.out else ''}` "
             f"on {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU.", "",
             f"{case}, {pk.n} grains, periodic, to t = {t_end:g} (reduced units). Accuracy against a spectral run "
             f"with the fixed step 0.002 (η split, float64; {ref.state.steps} steps, {w_ref:.0f} s). Wall: the "
             f"shortest of {args.repeats} timings (round-robin); speed-up of the shortest times, in brackets the "
             "median and range of the ratios within each round. Motion: k / 2Lκ_η of a grain shrinking inside "
             "another (96², float64) at the row's longest grain-field step (fixed: its SBDF2 sub-step). Grain-field share: "
             "of a further run's wall time, the part in the grain fields' step.", "",
             "| method | steps | wall [s] | mean abs. error of ρ | largest abs. error of ρ | boundary layer "
             "| motion k / 2Lκ_η | mass change | grain-field share | speed-up (paired) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", *rows,
             "", "Rows with `eta_step` take the longest of the SBDF2 sub-steps tried whose boundaries move as "
             "accurately as the explicit reference's (the default sub-step is 0.025): "
             + "; ".join(f"`eta_step: {h:g}`: {k:.3f}" for h, k in tried), ""]
    name = f"sinter_long{'_3d' if args.dim == 3 else ''}{'_quick' if args.quick else ''}"
    write_result(RESULTS, args.out or name, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
