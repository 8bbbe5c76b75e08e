"""Speed of the sintering solver: semi-implicit spectral vs the explicit finite-difference reference.

Issue 7 target: at least 20× faster to the same simulated time on CPU, at equal
accuracy; report the GPU figure when a GPU is present.  On CPU the spectral
step's local terms (the grain fields' reaction, ∂f/∂ρ and the mobility) run in
numba kernels, and the explicit reference's whole step runs in one fused kernel
(:func:`datarial.sinter._kernels.explicit_step`, two passes over the grid; the
plain model of this benchmark).  Rows show the spectral run with its local
terms in torch, and the explicit run in torch operations, which was the
reference of earlier versions of this benchmark: seven to ten times slower
than the fused kernel, so the speed-ups reported against it then were as
much too high for the method (a last column gives them again).

* 2D, 512²: a random packing of grains.  Both methods run to the same time
  t_end; accuracy = mean |ρ − ρ_ref| against a spectral run with a small fixed
  step (Δt = 0.002, converged in time).  The explicit step is the largest of
  0.004 / 0.002 / 0.001 that stays stable, η within [−0.05, 1.05].  The spectral step splits the
  grain fields' equation, which at large Δt thins the grain boundaries (see
  ``benchmarks.sinter_split``), so a second accuracy is the boundary layer
  Σ∫Σ_{i≠j}ηᵢηⱼ (the boundary-diffusion path), relative to the reference's; a
  second spectral row takes the largest step accurate in both, and a third keeps the ρ-accurate step for ρ
  and steps the grain fields in sub-steps (``eta_step``) of Δt/k, k = 2 … 10, the largest that makes it accurate
  in both.  A fourth steps the grain fields by stabilised SBDF2 (``eta_scheme="sbdf2"``), whose boundary layer
  stays at equilibrium at any Δt but whose boundaries move slower by an O(Δt²) term: in sub-steps Δt/k,
  k = 1 … 10, the largest accurate in all three.  The third accuracy is boundary motion: the area rate k of a
  grain shrinking inside another (``benchmarks.sinter_split.shrink_rate``: 96², on the CPU in float64, with
  the row's step and scheme) against 2 L κ_η; a spectral row counts as accurate in it where |k/2Lκ_η − 1| is
  at most the explicit reference's (its second-order Laplacian slows the boundary by 7 %).  Two rows lower the
  density step's stabilising mobility to α = 0.6 max M (``rho_stabiliser``; its error ∝ Δt α κ_ρ k⁴, stable
  from 0.5) and take the largest of Δt 0.1, 0.08, 0.0667, 0.05 accurate in ρ, and with the grain fields by
  SBDF2 (in the fewest sub-steps per Δt, 1 … 10) accurate in all three.  The last rows are the adaptive step
  control, with either scheme: SBDF2, the default, also with its steps capped at 0.1 (``dt_max``), and the
  split step, the default until 2026-12.
* 3D, 128³ with 24 grains: the rates (steps per second, simulated time per
  wall second) of each method over a stretch of steps, each at the step it
  needed in 2D for that accuracy.
* Owner maps (which grain of a field a voxel belongs to, for remapping and
  the grains' centres) are updated once per unit of simulated time in both
  methods: the explicit runs set ``owner_every`` to 1/Δt steps (every 500
  at Δt 0.002), as the spectral step of 0.05 does with the default of 20.
  At every 20 steps the explicit run would update them 50 times to t = 2
  (the same ρ to the last digit; 4.6 ms each with the numba kernel, 71 ms
  in torch, at 512² with 60 grains).
* 3D, 128³ with 732 grains (the Ba122 case): the fields they share, the size of
  the state (ρ, η, owner maps) and the spectral rate; on a GPU also the peak
  GPU memory of each 3D run.

Run: ``python -m benchmarks.sinter_speed [--quick] [--device cpu|cuda] [--dtype float32|float64] [--repeats 5] [--out NAME]``.

Every CPU ``Simulation`` keeps freed memory in the process's heap (:func:`datarial.devices.retain_freed_memory`),
the explicit reference's included, as both run in this process.  Before that setting the explicit step, which
allocates more full-grid temporaries than the spectral one, page-faulted them in afresh at every step: up to
2.6× slower at 128³ (``benchmarks.sinter_heap``), which inflated the speed-ups of earlier versions of this
table (e.g. 33–43× in 3D with the grain boundaries accurate, where two runs now gave 14.5× and 21.9×).

This machine's speed drifts: the same explicit run took 8.0 s and 16.1 s in two runs of this benchmark.
Each reported 2D run is therefore timed ``--repeats`` times, round-robin; the table gives the ratio of
the shortest times and, beside it, the median and range of the ratios within each round, where the two
runs followed each other.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time
from pathlib import Path

import torch

from benchmarks._results import speedup as paired_speedup
from benchmarks.sinter_split import shrink_rate
from datarial.errors import DatarialError
from datarial.sinter import solver
from datarial.sinter.model import Parameters
from datarial.sinter.packing import random_packing
from datarial.sinter.solver import Simulation, SolverSettings, initial_state

RESULTS = Path(__file__).with_name("results")
# the runs timed with the local terms in torch (no numba kernels): the spectral check row, the former explicit reference
IN_TORCH = ("torch", "expl_torch")
# The density step's stabilising mobility of the rows with ``rho_stabiliser`` (0.5 is the stability bound), and
# the steps tried for them
LOW_ALPHA = 0.6
LOW_STEPS = (0.1, 0.08, 0.0667, 0.05)
ADAPT_DT_MAX = 0.1  # a cap on the adaptive control's step (default 0.4): its ρ error grows with the step


def packing_2d(n2: int = 512):
    """The 2D case: a random packing of 60 grains on 512² (fewer, in proportion, on a smaller grid)."""
    return random_packing((n2, n2), max(8, int(60 * (n2 / 512) ** 2)), 20.0, seed=2, overlap=0.15)


def packing_3d(n3: int = 128, grains: int = 24):
    """The 3D cases: 24 grains on 128³, or the Ba122 case's 732 (smaller grains), radii scaled with the grid."""
    if grains == 24:
        return random_packing((n3, n3, n3), 24, 13.0 * n3 / 128, seed=4, overlap=0.15)
    return random_packing((n3, n3, n3), grains, 4.0 * n3 / 128, seed=1, overlap=0.1)


def timed_run(packing, settings, t_end, params=None):
    state = initial_state(packing, settings)
    sim = Simulation(state, params or Parameters(), settings)
    if state.rho.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    sim.run(t_end)
    if state.rho.is_cuda:
        torch.cuda.synchronize()
    return sim, time.perf_counter() - t0


def rate(packing, settings, steps, params=None):
    """Steps per second, simulated time per wall second over ``steps`` steps (after one warm-up step), Δt and
    the peak GPU memory in GiB (None on the CPU)."""
    cuda = settings.device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    state = initial_state(packing, settings)
    sim = Simulation(state, params or Parameters(), settings)
    sim.step()
    if state.rho.is_cuda:
        torch.cuda.synchronize()
    t0, s0 = time.perf_counter(), state.time
    for _ in range(steps):
        sim.step()
    if state.rho.is_cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return steps / wall, (state.time - s0) / wall, sim.dt, peak, state


def boundary_layer(sim) -> float:
    """Σ over the grid of Σ_{i≠j} ηᵢηⱼ (cells): how much boundary-diffusion path the run holds."""
    eta = sim.state.eta
    return float((eta.sum(0) ** 2 - (eta * eta).sum(0)).sum())


def state_bytes(state) -> int:
    """Bytes of the fields a run carries: ρ, η and the owner maps."""
    return sum(t.numel() * t.element_size() for t in (state.rho, state.eta, state.owner))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256² and 64³ instead of 512² and 128³")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    ap.add_argument("--repeats", type=int, default=5, help="timings of each reported run, round-robin (≥ 2 for paired ratios)")
    ap.add_argument("--out", help="name of the result file in benchmarks/results (default from the options)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats: a whole number ≥ 1")
    n2, n3 = (256, 64) if args.quick else (512, 128)
    dev, dt_ = args.device, args.dtype
    torch.set_num_threads(os.cpu_count() or 1)
    lines = ["# Sintering solver speed: spectral vs explicit finite differences", "",
             f"`python -m benchmarks.sinter_speed{' --quick' if args.quick else ''} --device {dev} --dtype {dt_}"
             f"{f' --repeats {args.repeats}' if args.repeats != 5 else ''}{' --out ' + args.out if args.out else ''}` on "
             f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
             + (torch.cuda.get_device_name() if dev.startswith("cuda") else "CPU") + ".", ""]

    # ---- 2D, equal accuracy to the same time
    pk = packing_2d(n2)
    t_end = 2.0
    kernel = solver._cpu_kernels() if dev == "cpu" else None
    if kernel is not None:  # compile (or load from numba's cache) outside the timings
        timed_run(pk, SolverSettings(dt=0.4, adaptive=False, device=dev, dtype=dt_), 0.4)
        timed_run(pk, SolverSettings(method="explicit", dt=0.002, adaptive=False, device=dev, dtype=dt_), 0.002)
    else:  # both methods then compute in torch operations: the speed-ups are not those of the tables in the README
        lines += [("numba is missing (the `sinter` extra): " if dev == "cpu" else "On this device ")
                  + "the explicit reference runs in torch operations, not the fused CPU kernel.", ""]
    ref, _ = timed_run(pk, SolverSettings(dt=0.002, adaptive=False, device=dev, dtype=dt_, eta_scheme="split"), t_end)

    def explicit(dt: float) -> SolverSettings:
        # owner maps once per time unit, as the spectral runs at Δt 0.05 with the default owner_every = 20
        return SolverSettings(method="explicit", dt=dt, adaptive=False, device=dev, dtype=dt_,
                              owner_every=max(1, round(1.0 / dt)))
    expl = None
    for dt in (0.004, 0.002, 0.001):
        try:
            expl, w_expl = timed_run(pk, explicit(dt), t_end)
        except DatarialError:
            continue
        # stable means η stays near [0, 1] too: at Δt = 0.004 (256², 2 cores) it had reached −0.26 by t = 2
        # without blowing up, its boundaries oscillating
        if float(expl.state.eta.min()) >= -0.05 and float(expl.state.eta.max()) <= 1.05:
            dt_expl = dt
            break
        expl = None
    if expl is None:
        raise SystemExit("the explicit method was unstable at every step tried")
    err_expl = float((expl.state.rho - ref.state.rho).abs().mean())
    layer_ref = boundary_layer(ref)

    def layer_error(sim) -> float:
        return abs(boundary_layer(sim) / layer_ref - 1.0)

    berr_expl = layer_error(expl)

    def fixed(dt, **kw) -> SolverSettings:
        """A fixed step; the grain fields split unless ``kw`` says otherwise."""
        return SolverSettings(**{"dt": dt, "adaptive": False, "device": dev, "dtype": dt_, "eta_scheme": "split", **kw})

    motion: dict = {}

    def motion_key(s: SolverSettings) -> tuple:
        return (s.method, s.dt, s.adaptive, s.order, s.eta_step, s.eta_scheme, s.rho_stabiliser)

    def motion_k(s: SolverSettings) -> float:
        """k / 2Lκ_η of the shrinking grain with these settings' method, step and scheme (cached)."""
        key = motion_key(s)
        if key not in motion:
            motion[key] = shrink_rate(s.dt, s.order, method=s.method, adaptive=s.adaptive, eta_step=s.eta_step,
                                      eta_scheme=s.eta_scheme, rho_stabiliser=s.rho_stabiliser)
        return motion[key]

    merr_expl = abs(motion_k(SolverSettings(method="explicit", dt=dt_expl, adaptive=False)) - 1.0)

    def moves(s: SolverSettings) -> bool:
        """Boundary motion at least as accurate as the explicit reference's."""
        return abs(motion_k(s) - 1.0) <= merr_expl

    def attempt(settings) -> tuple:
        """(steps, wall, ρ error, boundary-layer error) of one timed spectral run; Nones where it blew up."""
        try:
            run_, wall = timed_run(pk, settings, t_end)
        except DatarialError:
            return None, None, None, None
        return run_.state.steps, wall, float((run_.state.rho - ref.state.rho).abs().mean()), layer_error(run_)

    def accurate(row, layer: bool) -> bool:
        return row[3] is not None and row[3] <= err_expl and (not layer or row[4] <= berr_expl)

    # Equal accuracy: the largest fixed spectral step whose error is at most the explicit method's (in ρ;
    # then in ρ and the boundary layer).
    tried, first, both = [], None, None
    for dt in (0.4, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01):
        tried.append((dt, *attempt(fixed(dt))))
        if first is None and accurate(tried[-1], layer=False):
            first = tried[-1]
        if accurate(tried[-1], layer=True) and moves(fixed(dt)):
            both = tried[-1]
            break
    if first is None:
        raise SystemExit("no spectral step tried was as accurate in ρ as the explicit method")
    dt_spec, steps_spec, w_spec, err_spec, berr_spec = first
    both = both or (None, None, None, None, None)
    # ρ at the ρ-accurate step, the grain fields in sub-steps (``eta_step``): the largest sub-step that makes
    # the run accurate in both
    sub, sub_tried = None, []
    if both[0] != dt_spec:
        for es in (dt_spec / k for k in range(2, 11)):  # 2, 3, … 10 sub-steps per Δt
            sub_tried.append((es, *attempt(fixed(dt_spec, eta_step=es))))
            if accurate(sub_tried[-1], layer=True) and moves(fixed(dt_spec, eta_step=es)):
                sub = sub_tried[-1]
                break
    # the grain fields by stabilised SBDF2: the fewest sub-steps (1, 2, … 10 per Δt) accurate in all three
    def sbdf2(k: int) -> SolverSettings:
        return fixed(dt_spec, eta_step=dt_spec / k, eta_scheme="sbdf2")

    sb, sb_tried = None, []
    for k in range(1, 11):
        sb_tried.append((dt_spec / k, *attempt(sbdf2(k))))
        if accurate(sb_tried[-1], layer=True) and moves(sbdf2(k)):
            sb = (k, *sb_tried[-1][1:])
            break
    # the density step with α = LOW_ALPHA · max M (``rho_stabiliser``): the largest step accurate in ρ, and with
    # the grain fields by SBDF2 in the fewest sub-steps per step, the largest accurate in all three
    def low(dt: float, **kw) -> SolverSettings:
        return fixed(dt, rho_stabiliser=LOW_ALPHA, **kw)

    low_tried, low_rho, low_sb_tried, low_sb = [], None, [], None
    for dt in LOW_STEPS:
        low_tried.append((dt, *attempt(low(dt))))
        if accurate(low_tried[-1], layer=False):
            low_rho = low_tried[-1]
            break
    for dt in LOW_STEPS:  # per step, the fewest η sub-steps (1, 2, … 10) accurate in all three
        for k in range(1, 11):
            low_sb_tried.append((dt, *attempt(low(dt, eta_scheme="sbdf2", eta_step=dt / k)), k))
            if accurate(low_sb_tried[-1], layer=True) and moves(low(dt, eta_scheme="sbdf2", eta_step=dt / k)):
                low_sb = low_sb_tried[-1]
                break
        if low_sb is not None:
            break
    # the adaptive control: the default (η by SBDF2, in sub-steps of 0.025), and the split step (the default
    # until 2026-12)
    adaptive = {"adapt": SolverSettings(device=dev, dtype=dt_),
                "adapt_cap": SolverSettings(device=dev, dtype=dt_, dt_max=ADAPT_DT_MAX),
                "adapt_split": SolverSettings(device=dev, dtype=dt_, eta_scheme="split")}
    adapt_runs = {key: timed_run(pk, s, t_end) for key, s in adaptive.items()}
    walls = {"expl": [w_expl], "spec": [w_spec], **{key: [w] for key, (_, w) in adapt_runs.items()}}
    if kernel is not None:  # the same spectral run with the local terms in torch instead of the numba kernels, and
        # the explicit run in torch operations (the reference of earlier versions)
        with solver.without_kernels():
            walls["torch"] = [timed_run(pk, fixed(dt_spec), t_end)[1]]
            walls["expl_torch"] = [timed_run(pk, explicit(dt_expl), t_end)[1]]
    # The wall times above are from single runs; on a shared machine one run can take twice as long as the
    # next.  Time every reported run again, round-robin, and keep each one's shortest time.
    chosen = {"expl": explicit(dt_expl), "spec": fixed(dt_spec), "torch": fixed(dt_spec), **adaptive}
    if "expl_torch" in walls:
        chosen["expl_torch"] = explicit(dt_expl)
    if both[0] is not None:
        chosen["both"], walls["both"] = fixed(both[0]), [both[2]]
    if sub is not None:
        chosen["sub"], walls["sub"] = fixed(dt_spec, eta_step=sub[0]), [sub[2]]
    if sb is not None:
        chosen["sbdf2"], walls["sbdf2"] = sbdf2(sb[0]), [sb[2]]
    if low_rho is not None:
        chosen["low"], walls["low"] = low(low_rho[0]), [low_rho[2]]
    if low_sb is not None:
        chosen["low_sb"] = low(low_sb[0], eta_scheme="sbdf2", eta_step=low_sb[0] / low_sb[5])
        walls["low_sb"] = [low_sb[2]]
    for _ in range(args.repeats - 1):
        for key, times in walls.items():
            with solver.without_kernels() if key in IN_TORCH else contextlib.nullcontext():
                times.append(timed_run(pk, chosen[key], t_end)[1])
    best = {key: min(times) for key, times in walls.items()}
    w_expl, w_spec = best["expl"], best["spec"]

    def speedup(key: str) -> str:
        """The shortest explicit time over the shortest of ``key``; then the median and range of the ratios within
        each round-robin round (the first timings come from the searches above, at other times: left out)."""
        return paired_speedup(walls["expl"], walls[key], paired_from=1)

    def row(label: str, step: str, steps_: int, wall: float, err: float, berr: float, s: SolverSettings,
            key: str | None) -> str:
        against_torch = f" {best['expl_torch'] / wall:.1f}× |" if "expl_torch" in best else ""
        return (f"| {label} | {step} | {steps_} | {wall:.2f} | {err:.2e} | {berr:.1%} | {motion_k(s):.3f} | "
                + (speedup(key) if key else "1.0×") + " |" + against_torch)

    rows = [row("explicit FD", f"{dt_expl} fixed", expl.state.steps, w_expl, err_expl, berr_expl, chosen["expl"], None)]
    if "expl_torch" in best:
        rows.append(row("explicit FD in torch operations (the reference before)", f"{dt_expl} fixed",
                        expl.state.steps, best["expl_torch"], err_expl, berr_expl, chosen["expl"], "expl_torch"))
    rows.append(row("spectral, η split", f"{dt_spec} fixed", steps_spec, w_spec, err_spec, berr_spec, chosen["spec"],
                    "spec"))
    if "torch" in best:
        rows.append(row("spectral, local terms in torch (no numba)", f"{dt_spec} fixed", steps_spec, best["torch"],
                        err_spec, berr_spec, chosen["torch"], "torch"))
    if both[0] is not None:
        rows.append(row("spectral, accurate in ρ, the boundary layer and motion", f"{both[0]} fixed", both[1],
                        best["both"], both[3], both[4], chosen["both"], "both"))
    else:
        rows.append("| spectral, accurate in ρ, the boundary layer and motion | none of the steps tried | | | | | | |")
    if sub is not None:
        rows.append(row(f"spectral, η in sub-steps of {sub[0]:.4g} (`eta_step`)", f"{dt_spec} fixed", sub[1],
                        best["sub"], sub[3], sub[4], chosen["sub"], "sub"))
    if sb is not None:
        what = f"η by SBDF2 (`eta_scheme: sbdf2`) in steps of {dt_spec / sb[0]:.4g}"
        rows.append(row(f"spectral, {what}", f"{dt_spec} fixed", sb[1], best["sbdf2"], sb[3], sb[4],
                        chosen["sbdf2"], "sbdf2"))
    else:
        rows.append("| spectral, η by SBDF2 | no sub-step tried was accurate | | | | | | |")
    for key, found, what in (("low", low_rho, "as accurate in ρ"),
                             ("low_sb", low_sb, "η by SBDF2 in "
                              + (f"{low_sb[5]} sub-steps" if low_sb else "sub-steps") + ", accurate in all three")):
        label = f"spectral, α = {LOW_ALPHA} max M (`rho_stabiliser: {LOW_ALPHA}`), {what}"
        if found is None:
            rows.append(f"| {label} | none of the steps tried | | | | | | |")
        else:
            rows.append(row(label, f"{found[0]:.4g} fixed", found[1], best[key], found[3], found[4], chosen[key],
                            key))
    for key, label in (("adapt", "spectral (default: η by SBDF2 in sub-steps of at most 0.025)"),
                       ("adapt_cap", f"spectral, η by SBDF2, steps of at most {ADAPT_DT_MAX:g} (`dt_max`)"),
                       ("adapt_split", "spectral, η split (the default until 2026-12)")):
        run_ = adapt_runs[key][0]
        rows.append(row(label, "adaptive", run_.state.steps, best[key],
                        float((run_.state.rho - ref.state.rho).abs().mean()), layer_error(run_), chosen[key], key))
    lines += [f"## 2D, {n2}², {pk.n} grains, to t = {t_end} (reduced)", "",
              "Fixed-step spectral rows step the grain fields by Strang splitting unless they say SBDF2. "
              "Accuracy: mean |ρ − ρ_ref| at t_end against a spectral run with Δt = 0.002 (converged in time). "
              "The spectral step is the largest of 0.4, 0.2, 0.1, 0.05, … whose error is at most the explicit one's. "
              "Boundary layer: |Σ Σ_{i≠j}ηᵢηⱼ / the reference's − 1|. Motion: k / 2Lκ_η of a grain shrinking "
              "inside another (96², CPU, float64) with the row's method, step and scheme; accurate where "
              "|k / 2Lκ_η − 1| is at most the explicit one's. "
              f"Wall: the shortest of {args.repeats} timings of each reported run (round-robin). Speed-up: of the "
              "shortest times; in brackets the median and range of the ratios within each round-robin round.", "",
              "| method | Δt | steps | wall [s] | mean abs. error of ρ | boundary layer error | motion k / 2Lκ_η "
              "| speed-up (paired) |" + (" against the torch explicit step |" if "expl_torch" in best else ""),
              "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if "expl_torch" in best else ""), *rows, ""]

    def listed(title: str, rows_: list, name, settings_of) -> list[str]:
        """One line for the runs tried: rows (Δt, steps, wall, ρ error, layer error, …); ``name(row)`` and
        ``settings_of(row)`` give each run's label and settings."""
        def one(r) -> str:
            w, e, b = r[2:5]
            if e is None:
                return f"{name(r)}: unstable"
            key = motion_key(settings_of(r))
            return (f"{name(r)}: error {e:.2e}, boundary layer {b:.1%}"
                    + (f", motion {motion[key]:.3f}" if key in motion else "") + f", {w:.2f} s")
        return [title + "; ".join(one(r) for r in rows_), ""]

    lines += listed("Spectral steps tried: ", tried, lambda r: f"Δt {r[0]:.4g}", lambda r: fixed(r[0]))
    if sub_tried:
        lines += listed(f"Sub-steps tried at Δt {dt_spec}: ", sub_tried, lambda r: f"eta_step {r[0]:.4g}",
                        lambda r: fixed(dt_spec, eta_step=r[0]))
    lines += listed(f"SBDF2 sub-steps tried at Δt {dt_spec}: ", sb_tried, lambda r: f"sub-step {r[0]:.4g}",
                    lambda r: sbdf2(round(dt_spec / r[0])))
    lines += listed(f"Steps tried with α = {LOW_ALPHA} max M: ", low_tried, lambda r: f"Δt {r[0]:.4g}",
                    lambda r: low(r[0]))
    lines += listed(f"Steps tried with α = {LOW_ALPHA} max M, η by SBDF2: ", low_sb_tried,
                    lambda r: f"Δt {r[0]:.4g} in {r[5]} sub-step{'s' if r[5] > 1 else ''}",
                    lambda r: low(r[0], eta_scheme="sbdf2", eta_step=r[0] / r[5]))
    print("\n".join(lines[-22:]))

    # ---- 3D rates
    cuda = dev.startswith("cuda")
    pk3 = packing_3d(n3)
    steps = 10 if args.quick else 5
    rates: dict = {}
    for _ in range(args.repeats):  # round-robin; the fastest stretch of each counts
        for key in ("expl", "expl_torch", "spec", "both", "sub", "sbdf2", "low", "low_sb"):
            if key not in chosen:
                continue
            with solver.without_kernels() if key in IN_TORCH else contextlib.nullcontext():
                got = rate(pk3, chosen[key], steps)
            if key not in rates or got[0] > rates[key][0]:
                rates[key] = got
    e_rate, st = rates["expl"][1], rates["spec"][4]
    mem = (lambda m: f" {m:.2f} |") if cuda else (lambda m: "")

    def row_3d(label: str, key: str, step: str = " (as in 2D)") -> str:
        sps, rate_, dt_row, peak, _ = rates[key]
        return (f"| {label} | {dt_row:.3g}{step} | {sps:.3g} | {rate_:.3g} | {rate_ / e_rate:.1f}× |"
                + (f" {rate_ / rates['expl_torch'][1]:.1f}× |" if "expl_torch" in rates else "") + mem(peak))

    both_3d = [row_3d(label, key) for label, key, present in (
        ("spectral, accurate in the boundary layer too", "both", both[0] is not None),
        (f"spectral, η in sub-steps of {sub[0]:.4g}" if sub else "", "sub", sub is not None),
        ("spectral, η by SBDF2" + (f" in sub-steps of {dt_spec / sb[0]:.4g}" if sb and sb[0] > 1 else ""), "sbdf2",
         sb is not None),
        (f"spectral, α = {LOW_ALPHA} max M", "low", "low" in rates),
        (f"spectral, α = {LOW_ALPHA} max M, η by SBDF2" + (f" in {low_sb[5]} sub-steps" if low_sb else ""), "low_sb",
         "low_sb" in rates))
        if present]
    lines += [f"## 3D, {n3}³, {pk3.n} grains in {st.eta.shape[0]} fields, {steps} steps after a warm-up step "
              f"(the fastest of {args.repeats} such stretches, round-robin)", "",
              "| method | Δt | steps / s | simulated time / wall s | speed-up |"
              + (" against the torch explicit step |" if "expl_torch" in rates else "")
              + (" peak GPU memory [GiB] |" if cuda else ""),
              "|---|---|---:|---:|---:|" + ("---:|" if "expl_torch" in rates else "") + ("---:|" if cuda else ""),
              row_3d("explicit FD", "expl", ""),
              *([row_3d("explicit FD in torch operations (the reference before)", "expl_torch", "")]
                if "expl_torch" in rates else []),
              row_3d("spectral", "spec"), *both_3d, ""]
    print("\n".join(lines[-11:]))

    # ---- 732 grains (the Ba122 case): fields shared, memory
    many = 732 if not args.quick else 90
    pkm = packing_3d(n3, many)
    m_sps, m_rate, m_dt, m_mem, stm = rate(pkm, fixed(dt_spec), 3)
    full = (many + 1) * n3**3 * stm.rho.element_size() / 2**30
    lines += [f"## 3D, {n3}³, {pkm.n} grains, spectral, Δt {m_dt:.3g}, 3 steps after a warm-up step", "",
              f"{pkm.n} grains share {stm.eta.shape[0]} fields; ρ, η and the owner maps take "
              f"{state_bytes(stm) / 2**30:.2f} GiB (one field per grain would take {full:.2f} GiB for ρ and η alone)"
              + (f"; peak GPU memory {m_mem:.2f} GiB" if cuda else "")
              + f". {m_sps:.3g} steps / s, {m_rate:.3g} simulated time / wall s.", ""]
    print("\n".join(lines[-3:]))
    RESULTS.mkdir(exist_ok=True)
    name = args.out or (f"sinter_speed{'_quick' if args.quick else ''}{'_' + dev.replace(':', '') if dev != 'cpu' else ''}"
                        f"{'_' + dt_ if dt_ != 'float64' else ''}")
    name = name if name.endswith(".md") else name + ".md"
    (RESULTS / name).write_text("\n".join(lines) + "\n")
    print("wrote", RESULTS / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
