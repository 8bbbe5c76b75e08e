"""Neck growth of two equal grains: x/r against time and the exponent n of (x/r)^n ∝ t.

Classical sintering theory (Kuczynski) expects n ≈ 7 when surface diffusion
dominates, ≈ 6 for grain-boundary and ≈ 5 for volume diffusion, in the early
stage.  The same exponents hold for two cylinders (2D): the neck volume
(area) and the flux into it carry the same geometric factor in both cases,
e.g. for surface diffusion V ∝ x⁴/r (3D) or x³/r (2D) against a flux ∝ x/ρ²
(3D) or 1/ρ² (2D) with the neck curvature radius ρ ≈ x²/2r; both give
x⁶ dx ∝ r³ dt.

The phase-field neck is diffuse.  The classical geometry holds only where the
neck curvature radius ρ = x²/2r is several interface widths (the surface is
2.4 cells wide, 10–90 %, with the default parameters), so r must be large:
with r = 20 cells, ρ is below 2 cells until x/r ≈ 0.45.  Right after contact
the neck is already a few widths wide, so the neck starts at a finite x₀ and
the integrated law is xⁿ − x₀ⁿ ∝ t; fitting log x against log t then
overestimates n (the local slope is n·xⁿ/(xⁿ − x₀ⁿ)).  The rate form
dx/dt ∝ x^(1−n), which is what the mechanism analysis gives, holds whatever
the start: the table reports n from the slope of log(dx/dt) against log x,
beside the log t – log x fit, and n from fitting the integrated law
xⁿ = x₀ⁿ + Kt itself (x₀ and K free), which needs no differences of
neighbouring samples and so scatters less.  ``--out`` also writes the series
(t, x/r) of every run to a JSON file beside the table.

Grain-boundary diffusion grows the neck only if the grains approach: the
boundary is then the sink of the vacancies (the source of the matter) that
diffusion along it carries to the neck.  The ``gb`` case therefore has
rigid-body motion on (k_st = 10, m_tr = 50) with ρ0 = 1.  With this free
energy a flat boundary has ρ = 1 exactly (ηᵢ + ηⱼ = 1 across it makes
∂f/∂ρ vanish at ρ = 1), so Wang's ρ0 = 0.9816 makes the boundary's interior
push the grains apart, in proportion to its length, against the pull at the
neck's edge, and the neck stops where the two balance;
``--set rho0=0.9816`` shows it.  With m_tr = 50 the grains' mobility limits
the approach early on; ``--set m_tr=1000`` is the stiff limit, where the
approach is whatever the diffusion along the boundary allows (a test finds
that doubling every diffusion mobility there halves the time to the same
approach, within 2 %).

Each sample also records the neck's measured curvature radius ρ and the
approach h of the centres; per window the table splits n into the neck's
shape (ρ ∝ xᵖ, h ∝ x^q; classically p = q = 2) and the drift s of the
mechanism's flux law for that shape (classically 0), see ``shape_terms``.
``benchmarks.sinter_neck_sharp`` solves the one-grain volume-diffusion case
in its zero-width (sharp-interface) limit, as a reference for these runs.
``--neck 0.25`` starts from Kuczynski's filled neck of x/r = 0.25 instead of
two bare grains overlapping by half a cell.  ``--one-grain`` makes the two
particles one grain, without a boundary between them (dihedral angle 180°).
``--sharp-start 0.3`` (2D, one grain, vol or surf) starts instead from the
sharp-interface model's own neck: :func:`datarial.sinter.sharp.grow_neck`
grows two unit cylinders from Kuczynski's x/r = 0.2 (256 points) to
``--until``, keeps its curve where x/r first reaches 0.3, and the phase field
starts from that curve drawn on the grid (area fractions from 4 × 4 samples
per cell, cut at ½).  The table then gives, beside each sample, the sharp
model's time from the same neck to the same x/r, in the phase field's units
(r³/(M_vol γ_s) per sharp time unit for volume diffusion, r⁴/(M_surf δ_s γ_s)
for surface diffusion, δ_s = ∫ρ²(1−ρ)² across the surface), and n of both.

Run: ``python -m benchmarks.sinter_neck [--mechanism surf|gb|vol] [--radius 20] [--dim 3] [--time 200]
[--dt 0.1 | 0.03,0.01] [--order 1|2] [--until 0.6] [--neck 0.25 | --sharp-start 0.3] [--device cpu|cuda] [--set k_st=10,m_tr=50] [--out FILE-STEM] [--from FILE-STEM]``;
``--radius 20,40,60`` runs a resolution study; with three radii or more it
also extrapolates n to r → ∞ by a line n = n∞ + a/r (an error of order
interface width / r vanishes there).  ``--dt 0.03,0.01,0.003`` runs a
time-step study at one radius instead and extrapolates n to Δt → 0 by a line
n = n₀ + bΔt (the stabilised Euler step is first order in Δt).  ``--order 2``
steps the density by stabilised SBDF2 and the grain fields' reaction by
ETD2RK, second order in Δt.  ``--dtype float64`` runs in double precision
(float32's round-off lowers n in long runs).  ``--from STEM``
rebuilds the tables of ``benchmarks/results/STEM.md`` from its stored series
without simulating.  ``--compare STEM,STEM2 --sharp sinter_neck_sharp_vol_points``
compares stored one-grain runs with a stored sharp-interface run (its run of
256 points, or ``--sharp STEM:INDEX``): the time each takes from its own start
to each x/r (the phase field's sparse samples interpolated in log t against
log x), as the ratio t_phase-field / t_sharp (in the phase field's units,
see ``--sharp-start``), without simulating.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from datarial.errors import DatarialError
from datarial.sinter.measures import neck_curvature_radius, neck_exponent_integrated, neck_exponents
from datarial.sinter.model import Parameters, interface_properties
from datarial.sinter.packing import Packing, as_one_grain, random_rotations, two_particles
from datarial.sinter.sharp import grow_neck
from datarial.sinter.solver import Simulation, SolverSettings, initial_state, neck_radius

RESULTS = Path(__file__).with_name("results")
MECHANISMS = {
    "surf": Parameters(M_surf=4.0, M_gb=0.01, M_vol=0.001, M_vap=0.0),
    "gb": Parameters(M_surf=0.05, M_gb=4.0, M_vol=0.001, M_vap=0.0, k_st=10.0, m_tr=50.0, rho0=1.0),
    "vol": Parameters(M_surf=0.05, M_gb=0.01, M_vol=1.0, M_vap=0.0),
}
EXPECTED = {"surf": 7, "gb": 6, "vol": 5, "surf3d": 7}  # surf3d: the sharp model of two spheres
ORDER = {1: "stabilised Euler", 2: "stabilised SBDF2 with the ETD2RK reaction (second order)"}
WINDOWS = ((0.15, 0.3), (0.2, 0.4), (0.3, 0.5), (0.4, 0.6))


def curve_start(shape: tuple[int, int], r: int, curve: np.ndarray) -> tuple[Packing, np.ndarray]:
    """One grain whose outline is ``curve`` (complex points in radii, centres at ±c on the real axis, as
    :func:`datarial.sinter.sharp.grow_neck` keeps it) scaled by r and centred on a 2D grid, and the two
    centres (cells) between which to measure its neck.

    A cell is solid where at least half of its 4 × 4 sub-samples lie inside the curve.
    """
    from matplotlib.path import Path as Outline

    mid = (np.asarray(shape, float) - 1) / 2
    c = float(curve.real.max()) - 1.0  # each cylinder's far end lies one radius beyond its centre
    if 2 * r * (c + 1) + 8 > shape[-1] or 2 * r * float(np.abs(curve.imag).max()) + 8 > shape[0]:
        raise DatarialError(f"a neck of two cylinders of radius {r} does not fit a grid of {shape} with a margin")
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    pts = np.column_stack([(xx.ravel() - mid[1]) / r, (yy.ravel() - mid[0]) / r])
    outline = Outline(np.column_stack([curve.real, curve.imag]))
    offsets = (np.arange(4) - 1.5) / 4
    inside = sum(outline.contains_points(pts + np.array([ox, oy]) / r).astype(int) for oy in offsets for ox in offsets)
    labels = (inside.reshape(shape) >= 8).astype(np.int32)
    centres = np.array([[mid[0], mid[1] - c * r], [mid[0], mid[1] + c * r]])
    return Packing(labels, centres.mean(axis=0, keepdims=True), random_rotations(1, np.random.default_rng(0))), centres


def sharp_time_unit(params: Parameters, r: int, mechanism: str) -> float:
    """The phase field's reduced time per time unit of the sharp-interface model, for grains of radius r cells."""
    props = interface_properties(params)
    if mechanism == "vol":
        return r**3 / (params.M_vol * props.gamma_s)
    return r**4 / (params.M_surf * props.layer_s * props.gamma_s)


def sharp_reference(params: Parameters, r: int, mechanism: str, start: float, until: float) -> dict:
    """The sharp model's neck from Kuczynski's x/r = 0.2 to ``until``: its series from the first x/r ≥ ``start``
    on, with times from there in the phase field's units, and its curve there (radii)."""
    rec = grow_neck(points=256, neck=0.2, until=until, mechanism=mechanism, snapshot=start)
    snap, unit = rec["snapshot"], sharp_time_unit(params, r, mechanism)
    ts, xs = np.array(rec["t"]), np.array(rec["x_over_r"])
    keep = ts >= snap["t"]
    return {"start": snap["x_over_r"], "t": list((ts[keep] - snap["t"]) * unit), "x_over_r": list(xs[keep]),
            "rho_neck": list(np.array(rec["rho_over_r"])[keep] * r), "time_unit": unit, "curve": snap["curve"]}


def grow(params: Parameters, dim: int, r: int, t_end: float, dt: float, samples: int, until: float,
         neck: float = 0.0, order: int = 1, dtype: str = "float32", one_grain: bool = False,
         device: str = "cpu", eta_step: float | None = None, curve: np.ndarray | None = None,
         eta_scheme: str = "split") -> dict:
    """The neck of two grains of radius r measured at geometrically spaced times.

    Returns the run's record: t, x/r, the measured neck curvature radius ρ
    (cells), the approach of the centres (cells, half the decrease of their
    distance), grid and wall time.  ``neck`` > 0 starts from touching grains
    joined by Kuczynski's fillet of half-width neck·r; otherwise the grains
    overlap by half a cell.  ``order``: the step's time order (1 stabilised
    Euler, 2 stabilised SBDF2 with the ETD2RK reaction); with 2 the sample times are whole multiples of
    Δt, so that no step is shortened to land on one (which costs an Euler step).
    ``dtype``: float32 or float64.  ``one_grain``: both particles are one
    grain, so there is no grain boundary (the neck is measured between the
    particles' centres; the approach is not recorded).  ``device``: cpu, cuda, …
    ``eta_step``: the grain fields' sub-step (reduced time; None: one sub-step per Δt).
    ``curve``: start from this outline of one grain instead (2D, see :func:`curve_start`).
    ``eta_scheme``: the grain fields' scheme; "split", the solver's default until 2026-12, for the stored results.
    """
    shape = (2 * r + 12, 2 * r + 12, 4 * r + 16) if dim == 3 else (2 * r + 16, 4 * r + 24)
    s = SolverSettings(dt=dt, adaptive=False, dtype=dtype, order=order, device=device, eta_step=eta_step,
                       eta_scheme=eta_scheme)
    if curve is not None:  # the grid grows (to even sizes) where the curve needs more than the default
        need = (2 * r * float(np.abs(curve.imag).max()) + 8, 2 * r * float(np.abs(curve.real).max()) + 8)
        shape = tuple(max(n, 2 * math.ceil(m / 2)) for n, m in zip(shape, need, strict=True))
        start, ends = curve_start(shape, r, curve)
    else:
        start = two_particles(shape, r, overlap=0.0, neck=neck * r) if neck > 0 else two_particles(shape, r, overlap=0.5)
        ends = start.centres if one_grain else None
        if one_grain:
            start = as_one_grain(start)
    sim = Simulation(initial_state(start, s), params, s)

    def distance() -> float:
        return math.nan if one_grain or curve is not None else float(np.linalg.norm(np.diff(sim.state.grains.centre[:2], axis=0)))

    d0 = distance()
    t0 = time.perf_counter()
    ts, xs, rhos, approach = [], [], [], []
    times = np.geomspace(0.5, t_end, samples)
    if order == 2:
        times = np.unique(np.maximum(np.round(times / dt), 1.0)) * dt
    for t in times:
        sim.run(float(t))
        ts.append(sim.state.time)
        xs.append(neck_radius(sim.state, ends) / r)
        rhos.append(neck_curvature_radius(sim.state, centres=ends))
        approach.append(0.5 * (d0 - distance()))
        if xs[-1] >= until:
            break
    return {"radius": r, "dt": dt, "order": order, "dtype": dtype, "grid": list(shape), "wall_s": time.perf_counter() - t0, "t": ts,
            "x_over_r": xs, "rho_neck": rhos, "approach": approach}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_neck", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanism", choices=sorted(MECHANISMS), default="surf")
    ap.add_argument("--radius", default="20", help="grain radius in cells; a comma list gives a resolution study")
    ap.add_argument("--dim", type=int, choices=(2, 3), default=3)
    ap.add_argument("--time", type=float, default=200.0,
                    help="end time (reduced) for the first radius; scaled by (r/r₀)⁴ for the others")
    ap.add_argument("--until", type=float, default=0.6, help="stop once x/r reaches this")
    ap.add_argument("--dt", default="0.1", help="fixed time step (reduced); a comma list gives a time-step study")
    ap.add_argument("--order", type=int, choices=(1, 2), default=1,
                    help="time order of the step: 1 stabilised Euler, 2 stabilised SBDF2 with the ETD2RK reaction")
    ap.add_argument("--neck", type=float, default=0.0,
                    help="start from a filled Kuczynski neck of this x/r (default: bare grains overlapping by 0.5 cell)")
    ap.add_argument("--sharp-start", type=float, default=0.0,
                    help="2D, one grain: start from the sharp-interface model's neck at this x/r (grown from 0.2)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                    help="float32 (default; its round-off lowers n in long runs, see the README) or float64")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the same run on a GPU)")
    ap.add_argument("--samples", type=int, default=60, help="neck measurements, geometrically spaced in time")
    ap.add_argument("--one-grain", action="store_true",
                    help="both particles one grain: no grain boundary between them (dihedral angle 180°)")
    ap.add_argument("--eta-step", type=float, default=None,
                    help="step the grain fields in sub-steps of at most this (reduced time; default one per Δt)")
    ap.add_argument("--eta-scheme", choices=("split", "sbdf2"), default="split",
                    help="the grain fields' scheme (default split, the solver's default until 2026-12, with which "
                         "the stored results were run; sbdf2 is the solver's default now)")
    ap.add_argument("--set", default="", help="model parameters to change, e.g. rho0=0.9816,m_tr=200")
    ap.add_argument("--out", default=None, help="file stem under benchmarks/results (default: print only)")
    ap.add_argument("--from", dest="source", default=None, metavar="STEM",
                    help="rebuild the tables of benchmarks/results/STEM.md from its stored series, without simulating")
    ap.add_argument("--compare", default=None, metavar="STEM,STEM2",
                    help="stored one-grain runs to compare with a stored sharp-interface run (--sharp), without simulating")
    ap.add_argument("--sharp", default="sinter_neck_sharp_vol_points", metavar="STEM[:INDEX]",
                    help="the stored sharp-interface run for --compare (default: its run of 256 points)")
    args = ap.parse_args(argv)
    if args.source:
        return reanalyse(args.source)
    if args.compare:
        return compare(args.compare.split(","), args.sharp, args.out)
    try:
        radii = [int(v) for v in args.radius.split(",")]
    except ValueError:
        ap.error(f"--radius: whole numbers of cells, got {args.radius!r}")
    try:
        steps = [float(v) for v in args.dt.split(",")]
    except ValueError:
        ap.error(f"--dt: positive numbers, got {args.dt!r}")
    if not all(v > 0 for v in steps):
        ap.error(f"--dt: positive numbers, got {args.dt!r}")
    if len(radii) > 1 and len(steps) > 1:
        ap.error("--radius and --dt: only one of them may be a list (a resolution or a time-step study)")
    try:
        changes = {k.strip(): float(v) for k, _, v in (item.partition("=") for item in args.set.split(",") if item)}
        params = MECHANISMS[args.mechanism].replace(**changes)
    except (ValueError, DatarialError) as exc:
        ap.error(f"--set: name=value pairs of model parameters ({exc})")
    if args.sharp_start:
        if not (args.dim == 2 and args.one_grain and args.mechanism in ("vol", "surf") and not args.neck):
            ap.error("--sharp-start: a 2D run of one grain (--dim 2 --one-grain), volume or surface diffusion, "
                     "without --neck")
        if not 0.2 < args.sharp_start < args.until:
            ap.error(f"--sharp-start {args.sharp_start:g}: an x/r between 0.2 (the sharp model's start) and "
                     f"--until {args.until:g}")
    if args.eta_step is not None and not args.eta_step > 0:
        ap.error(f"--eta-step: a positive number (reduced time), got {args.eta_step!r}")
    width = interface_properties(params).width_s
    cmd = " ".join(["python -m benchmarks.sinter_neck", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# Neck growth of two {'particles of one grain' if args.one_grain else 'grains'}: "
             f"{args.mechanism} diffusion, {args.dim}D", "",
             f"`{cmd}` on {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
             f"{', ' + torch.cuda.get_device_name() if args.device.startswith('cuda') else ''}: fixed "
             f"Δt = {', '.join(f'{v:g}' for v in steps)}, {ORDER[args.order]}, {args.dtype}"
             + (", grain fields by SBDF2" if args.eta_scheme == "sbdf2" else "")
             + (f", grain fields in sub-steps of at most {args.eta_step:g}" if args.eta_step else "")
             + f". Surface width (10–90 %) {width:.2f} cells. "
             f"Expected for {args.mechanism} diffusion: n ≈ {EXPECTED[args.mechanism]}. Mobilities M_surf "
             f"{params.M_surf:g}, M_gb {params.M_gb:g}, M_vol {params.M_vol:g}, M_vap {params.M_vap:g}; grain-field "
             f"mobility L {params.L:g}; rigid-body motion "
             + (f"k_st {params.k_st:g}, m_tr {params.m_tr:g}, ρ0 {params.rho0:g}." if params.m_tr > 0 else "off.")]
    series: list[dict] = []
    by_step = len(steps) > 1
    for r in radii:
        ref = None
        if args.sharp_start:
            t0 = time.perf_counter()
            ref = sharp_reference(params, r, args.mechanism, args.sharp_start, args.until)
            print(f"sharp model: x/r {ref['start']:.4f} reached, on to {args.until:g} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        for dt in steps:
            run = grow(params, args.dim, r, args.time * (r / radii[0]) ** 4, dt, args.samples,
                       args.until, args.neck, args.order, args.dtype, args.one_grain, args.device,
                       args.eta_step, None if ref is None else ref["curve"], args.eta_scheme)
            if ref is not None:
                run["sharp"] = {k: v for k, v in ref.items() if k != "curve"}
            series.append(run)
            print("\n".join((lines if len(series) == 1 else []) + section(series[-1], args.mechanism, by_step)),
                  flush=True)
    tail = timestep(series) if by_step else resolution(series, width)
    print("\n".join(tail))
    if args.out:
        write(args.out, lines + [line for run in series for line in section(run, args.mechanism, by_step)] + tail,
              {"command": cmd, "header": lines, "mechanism": args.mechanism, "dim": args.dim,
               "surface_width": width, "runs": series})
    return 0


def estimates(run: dict, windows=WINDOWS) -> dict[tuple[float, float], tuple[float, float, int, float]]:
    """For each x/r window of one run: (n from log t – log x, n from the rate form, samples,
    n from the integrated law)."""
    ts, xs = np.array(run["t"]), np.array(run["x_over_r"])
    return {(lo, hi): (*neck_exponents(ts, xs, lo, hi), neck_exponent_integrated(ts, xs, lo, hi))
            for lo, hi in windows}


def run_windows(run: dict) -> tuple[tuple[float, float], ...]:
    """The x/r windows of a run's tables: WINDOWS, and for a run from the sharp model's neck also the window
    from 0.05 past that start (past the drawn start's settling) to the last x/r both series reach (rounded
    down to two decimals)."""
    ref = run.get("sharp")
    if ref is None:
        return WINDOWS
    end = min(float(max(run["x_over_r"])), float(max(ref["x_over_r"])))
    return (*WINDOWS, (round(ref["start"] + 0.05, 2), math.floor(end * 100 + 1e-9) / 100))


def shape_terms(run: dict, lo: float, hi: float, mechanism: str) -> tuple[float, float, float]:
    """(p, q, s) in one x/r window: the measured neck curvature radius ρ ∝ xᵖ, the approach h ∝ x^q, and the
    drift s of the mechanism's flux law, Q ∝ xˢ.

    The classical laws are, with constants dropped, Q = x²·(dx/dt)·ρ² (surface
    diffusion), x²·(dx/dt)·ρ (volume diffusion, neck area ∝ x³/r) and
    (dh/dt)·ρ·x² (grain-boundary diffusion into the neck, Coble, with rigid-body
    approach h).  Q constant (s = 0) means the neck grows at the rate the
    mechanism gives for its measured shape.  With ρ ∝ x² (and h ∝ x²) the
    classical n follows; otherwise n = 3 + 2p − s (surface), 3 + p − s (volume)
    or 2 + p + q − s (grain boundary).  NaN where there are fewer than 4 points.
    """
    t, x = np.array(run["t"]), np.array(run["x_over_r"]) * run["radius"]
    rho, h = np.array(run["rho_neck"], float), np.array(run["approach"], float)

    def slope(u, v, ok):
        return float(np.polyfit(np.log(u[ok]), np.log(v[ok]), 1)[0]) if ok.sum() > 3 else math.nan

    r = run["radius"]
    sel = (x > lo * r) & (x < hi * r) & np.isfinite(rho) & (rho > 0)
    p = slope(x, rho, sel)
    q = slope(x, h, sel & (h > 0)) if mechanism == "gb" else math.nan
    xm, rm = np.sqrt(x[1:] * x[:-1]), np.sqrt(np.abs(rho[1:] * rho[:-1]))
    dt = np.diff(t)
    rate = np.diff(h) / dt if mechanism == "gb" else np.diff(x) / dt
    flux = rate * xm**2 * rm ** (2 if mechanism == "surf" else 1)
    ok = (xm > lo * r) & (xm < hi * r) & (flux > 0) & np.isfinite(flux)
    return p, q, slope(xm, flux, ok)


def section(run: dict, mechanism: str, by_step: bool = False) -> list[str]:
    """The table of one run: x/r over time and n in each window by the three estimates.

    Runs that recorded the neck's shape (``rho_neck``, ``approach``) also show
    it and, per window, the terms of :func:`shape_terms`.  ``by_step``: the
    title names the run's time step (a time-step study).
    """
    r, ts, xs = run["radius"], np.array(run["t"]), np.array(run["x_over_r"])
    shaped = "rho_neck" in run
    ref = run.get("sharp")
    title = f"r = {r} cells, Δt = {run['dt']:g}" if by_step else f"r = {r} cells"
    lines = ["", f"## {title}, grid {tuple(run['grid'])}, {run['wall_s']:.1f} s", ""]
    if ref is not None:
        lines += [f"Started from the sharp model's neck at x/r = {ref['start']:.4f}; its time unit is "
                  f"{ref['time_unit']:.4g} reduced time units here.", ""]
    lines += ["| t (reduced) | x/r | neck curvature radius x²/2r [cells] |"
              + (" measured ρ [cells] | approach h [cells] |" if shaped else "")
              + (" sharp model: time to this x/r [reduced] | t / t_sharp | sharp ρ [cells] |" if ref else ""),
              "|---:|---:|---:|" + ("---:|---:|" if shaped else "") + ("---:|---:|---:|" if ref else "")]
    step = max(1, len(ts) // 12)
    for i in range(0, len(ts), step):
        row = (f"| {ts[i]:.4g} | {xs[i]:.3f} | {(xs[i] * r) ** 2 / (2 * r):.2f} |"
               + (f" {_fmt(run['rho_neck'][i])} | {_fmt(run['approach'][i])} |" if shaped else ""))
        if ref is not None:
            t_sh = sharp_time_at(ref, xs[i])
            row += (f" {t_sh:.4g} | {_fmt(ts[i] / t_sh) if t_sh > 0 else '–'} |"
                    f" {_fmt(float(np.interp(xs[i], ref['x_over_r'], ref['rho_neck'])))} |")
        lines.append(row)
    lines += ["", "| x/r window | samples | n from log t vs log x | n from the rate, log(dx/dt) vs log x "
              "| n from the integrated law xⁿ = x₀ⁿ + Kt |"
              + (" p: ρ ∝ xᵖ (classical 2) | q: h ∝ x^q (classical 2) | s: flux law ∝ xˢ (classical 0) |"
                 if shaped else ""),
              "|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if shaped else "")]
    windows = run_windows(run)
    for (lo, hi), (nt, nr, k, ni) in estimates(run, windows).items():
        extra = "".join(f" {_fmt(v)} |" for v in shape_terms(run, lo, hi, mechanism)) if shaped else ""
        lines.append(f"| {lo}–{hi} | {k} | {_fmt(nt)} | {_fmt(nr)} | {_fmt(ni)} |" + extra)
    if ref is not None:
        lines += ["", "The sharp model from the same neck (its own samples, about one per 0.2 % of x/r):", "",
                  "| x/r window | n from the rate | n from the integrated law | p: ρ ∝ xᵖ |", "|---|---:|---:|---:|"]
        sharp_run = {"radius": r, "t": ref["t"], "x_over_r": ref["x_over_r"], "rho_neck": ref["rho_neck"],
                     "approach": [math.nan] * len(ref["t"])}
        for (lo, hi), (_, nr, _, ni) in estimates(sharp_run, windows).items():
            if ref["x_over_r"][0] > lo + 1e-9 or ref["x_over_r"][-1] < hi:
                lines.append(f"| {lo}–{hi} | – | – | – |")  # the window reaches beyond the shared series
                continue
            lines.append(f"| {lo}–{hi} | {_fmt(nr)} | {_fmt(ni)} | {_fmt(shape_terms(sharp_run, lo, hi, mechanism)[0])} |")
    return lines


def sharp_time_at(ref: dict, x: float) -> float:
    """The sharp model's time (phase-field units) from the shared start to x/r = x (see :func:`_time_at`); NaN
    beyond its series."""
    xs = np.array(ref["x_over_r"])
    return _time_at(xs, np.array(ref["t"]), x) if xs[0] <= x <= xs[-1] else math.nan


def resolution(series: list[dict], width: float) -> list[str]:
    """Rate-form and integrated-law n by radius, and n extrapolated to r → ∞.

    The extrapolation is the least-squares line n = n∞ + a/r through the
    integrated-law values (an interface-width error of order width/r vanishes
    as r → ∞).  It takes only the radii whose run covers the whole window and
    whose neck curvature radius x²/2r at the window's middle is at least the
    surface ``width`` (cells), where the classical geometry can hold, and
    needs three of them; otherwise "–".
    """
    if len(series) < 2:
        return []

    def resolved(run: dict, lo: float, hi: float) -> bool:
        return (0.5 * (lo + hi)) ** 2 * run["radius"] / 2.0 >= width

    return _study(series, "Resolution study", [f"r = {run['radius']}" for run in series], "n∞ (fit n∞ + a/r)",
                  lambda run: 1.0 / run["radius"], resolved,
                  "n∞ uses the radii whose run covers the whole window and whose neck curvature radius x²/2r at "
                  f"the window's middle is at least the surface width ({width:.2f} cells); it needs three.")


def timestep(series: list[dict]) -> list[str]:
    """Rate-form and integrated-law n by time step, and n extrapolated to Δt → 0.

    The extrapolation is the least-squares line n = n₀ + bΔtᵏ through the
    integrated-law values of the runs that cover the whole window, with k the
    step's order (1 for stabilised Euler, 2 for SBDF2); it needs three.
    """
    k = series[0].get("order", 1)
    power = "" if k == 1 else "²"
    return _study(series, f"Time-step study at r = {series[0]['radius']}", [f"Δt = {run['dt']:g}" for run in series],
                  f"n₀ (fit n₀ + bΔt{power})", lambda run: run["dt"] ** k, lambda run, lo, hi: True,
                  "n₀ uses the runs that cover the whole window; it needs three.")


def _study(series: list[dict], title: str, columns: list[str], fit: str, abscissa, usable, footnote: str) -> list[str]:
    """The table of a study: per window, each run's n (rate form / integrated law) and the intercept of the
    least-squares line of the integrated-law n against ``abscissa(run)`` over the runs that cover the whole
    window and are ``usable(run, lo, hi)`` (three needed)."""
    lines = ["", f"## {title}: n from the rate form / from the integrated law", "",
             "| x/r window | " + " | ".join(columns) + f" | {fit} |", "|---|" + "---:|" * (len(columns) + 1)]
    found = [estimates(run) for run in series]
    for lo, hi in WINDOWS:
        cells, at, integ = [], [], []
        for run, est in zip(series, found, strict=True):
            _, nr, _, ni = est[(lo, hi)]
            cells.append(f"{_fmt(nr)} / {_fmt(ni)}")
            xs = run["x_over_r"]
            if min(xs) <= lo and max(xs) >= hi and usable(run, lo, hi) and not np.isnan(ni):
                at.append(abscissa(run))
                integ.append(ni)
        cells.append(_fmt(float(np.polyfit(at, integ, 1)[1])) if len(integ) >= 3 else "–")
        lines.append(f"| {lo}–{hi} | " + " | ".join(cells) + " |")
    return lines + ["", footnote]


def write(stem: str, lines: list[str], record: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps(record) + "\n")
    print("wrote", RESULTS / f"{stem}.md", "and the series (t, x/r) in", RESULTS / f"{stem}.json")


def reanalyse(stem: str) -> int:
    """Rebuild the tables of a stored run from its series (no simulation)."""
    path = RESULTS / f"{stem}.json"
    try:
        record = json.loads(path.read_text())
        header, runs, width = record["header"], record["runs"], float(record["surface_width"])
        mechanism = record["mechanism"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"--from {stem}: cannot read the stored series in {path} ({exc})") from None
    note = f"Tables rebuilt from the stored series by `python -m benchmarks.sinter_neck --from {stem}`."
    by_step = len({run.get("dt") for run in runs}) > 1
    tail = timestep(runs) if by_step else resolution(runs, width)
    lines = header + ["", note] + [line for run in runs for line in section(run, mechanism, by_step)] + tail
    print("\n".join(lines))
    write(stem, lines, record)
    return 0


COMPARE_AT = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def stored_parameters(record: dict) -> Parameters:
    """The model parameters of a stored run: its mechanism's, changed by the ``--set`` of its command."""
    words = record["command"].split()
    changes = words[words.index("--set") + 1] if "--set" in words else ""
    return MECHANISMS[record["mechanism"]].replace(
        **{k: float(v) for k, _, v in (item.partition("=") for item in changes.split(",") if item)})


def compare(stems: list[str], sharp_stem: str, out: str | None = None) -> int:
    """The table of ``--compare``: t_phase-field / t_sharp at each x/r of COMPARE_AT, both from their own start."""
    name, _, index = sharp_stem.partition(":")
    try:
        runs = json.loads((RESULTS / f"{name}.json").read_text())["runs"]
        ref = runs[int(index)] if index else next(run for run in runs if run.get("points") == 256)
    except (OSError, ValueError, KeyError, IndexError, StopIteration) as exc:
        raise SystemExit(f"--sharp {sharp_stem}: cannot read a stored sharp run from {RESULTS / (name + '.json')} "
                         f"({exc!r})") from None
    xs_ref, ts_ref = np.array(ref["x_over_r"]), np.array(ref["t"])
    lines = ["# Phase field against the sharp model: time to each neck from each model's own start", "",
             f"`python -m benchmarks.sinter_neck --compare {','.join(stems)} --sharp {sharp_stem}`: t_phase-field / "
             f"t_sharp (the sharp model's time in the phase field's units, r³/(M_vol γ_s) or r⁴/(M_surf δ_s γ_s) per "
             f"unit); the sharp run starts at x/r = {xs_ref[0]:.3f}.", "",
             "| run | r | start | " + " | ".join(f"x/r {x:g}" for x in COMPARE_AT) + " |",
             "|---|---:|---|" + "---:|" * len(COMPARE_AT)]
    for stem in stems:
        try:
            record = json.loads((RESULTS / f"{stem}.json").read_text())
            params = stored_parameters(record)
        except (OSError, ValueError, KeyError, DatarialError) as exc:
            raise SystemExit(f"--compare {stem}: cannot read the stored run ({exc!r})") from None
        words = record["command"].split()
        start = ("sharp neck " + words[words.index("--sharp-start") + 1] if "--sharp-start" in words
                 else "Kuczynski " + words[words.index("--neck") + 1] if "--neck" in words else "bare, overlap ½ cell")
        for run in record["runs"]:
            unit = sharp_time_unit(params, run["radius"], record["mechanism"])
            xs, ts = np.array(run["x_over_r"]), np.array(run["t"])
            cells = []
            for x in COMPARE_AT:
                if not (xs[0] <= x <= xs[-1] and xs_ref[0] <= x <= xs_ref[-1]):
                    cells.append("–")
                    continue
                # a run from the sharp model's own neck: the sharp time from that shared start instead
                t_sharp = sharp_time_at(run["sharp"], x) if "sharp" in run else _time_at(xs_ref, ts_ref, x) * unit
                cells.append(_fmt(_time_at(xs, ts, x) / t_sharp))
            lines.append(f"| {stem} | {run['radius']} | {start} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if out:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{out}.md").write_text("\n".join(lines) + "\n")
        print("wrote", RESULTS / f"{out}.md")
    return 0


def _time_at(xs: np.ndarray, ts: np.ndarray, x: float) -> float:
    """The time at which a sampled neck reached x/r = x: interpolated in log t against log x between the two
    samples around it (the samples are sparse and t grows like xⁿ), linearly where one of them is at t = 0."""
    i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1))
    (x0, x1), (t0, t1) = xs[i - 1:i + 1], ts[i - 1:i + 1]
    if t0 <= 0 or x0 <= 0 or x1 <= x0:
        return float(np.interp(x, xs, ts))
    return float(np.exp(np.log(t0) + (np.log(x) - np.log(x0)) / (np.log(x1) - np.log(x0)) * (np.log(t1) - np.log(t0))))


def _fmt(v: float) -> str:
    return "–" if np.isnan(v) else f"{v:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
