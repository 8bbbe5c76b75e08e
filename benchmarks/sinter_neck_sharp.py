"""Sharp-interface reference for the neck of two cylinders, beside the phase-field runs.

Solves the zero-width limit of the phase-field model's one-grain volume
diffusion case (``--mechanism vol``, ``datarial.sinter.sharp``: μ harmonic in
the solid, μ = κ on its surface, V = −∂μ/∂n) or surface-diffusion case
(``--mechanism surf``: V = ∂²κ/∂s²), or the neck of two spheres by surface
diffusion (``--mechanism surf3d``: V = Δ_s H on the surface of revolution, H
the sum of the principal curvatures), from a smooth neck of half-width ``--neck``
to ``--until``, and reports per x/r window the exponent n of xⁿ ∝ t (rate form
and integrated law, as ``benchmarks.sinter_neck``), the neck shape ρ ∝ xᵖ and
the drift s of the mechanism's classical flux law.  ``--points 192,256,384`` runs a
resolution study; ``--step 0.002,0.001`` a time-step study (each step is that
fraction of the neck's time scale x/(dx/dt); with ``--remesh-every 10``, since
a redistribution after each of a thousand steps can make the curve run away).  ``--compare`` names stored
phase-field results (``benchmarks/results/STEM.json``) to tabulate beside it.

Run: ``python -m benchmarks.sinter_neck_sharp [--mechanism vol|surf|surf3d] [--points 256] [--step 0.002] [--neck 0.2]
[--until 0.62]
[--remesh-every 1] [--compare sinter_neck_2d_vol_etd2_r80_f64_one_grain,...] [--out FILE-STEM]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from benchmarks.sinter_neck import EXPECTED, RESULTS, WINDOWS, _fmt, estimates, shape_terms, write
from datarial.sinter.sharp import VELOCITY, grow_neck

DEFAULT_COMPARE = {"vol": "sinter_neck_2d_vol_etd2_r80_f64_one_grain,sinter_neck_2d_vol_etd2_r80_f64",
                   "surf": "sinter_neck_2d_surf_etd2_r40_f64_one_grain,sinter_neck_2d_surf_etd2_dt05_float64",
                   "surf3d": ""}
LAW = {"vol": ("V = −∂μ/∂n with μ harmonic in the solid and μ = κ on its surface", "r³kT/(DγΩ)", "x²·(dx/dt)·ρ"),
       "surf": ("V = ∂²κ/∂s² (Mullins)", "r⁴kT/(D_sδ_sγΩ)", "x²·(dx/dt)·ρ²"),
       "surf3d": ("V = Δ_s H on the surface of revolution, H = κ₁ + κ₂ (Mullins)", "r⁴kT/(D_sδ_sγΩ)",
                  "x²·(dx/dt)·ρ²")}
# the flux law of the sphere pair's surface diffusion has the cylinders' form (see benchmarks.sinter_neck)
FLUX = {"vol": "vol", "surf": "surf", "surf3d": "surf"}


def _numbers(text: str, kind, name: str, ap: argparse.ArgumentParser) -> list:
    try:
        values = [kind(v) for v in text.split(",")]
    except ValueError:
        ap.error(f"--{name}: a comma list of positive numbers, got {text!r}")
    if not all(v > 0 for v in values):
        ap.error(f"--{name}: a comma list of positive numbers, got {text!r}")
    return values


def as_run(record: dict) -> dict:
    """A sharp-interface record in the phase-field benchmark's run layout (lengths in radii, r = 1)."""
    return {"radius": 1, "t": record["t"], "x_over_r": record["x_over_r"], "rho_neck": record["rho_over_r"],
            "approach": [float("nan")] * len(record["t"])}


def window_cells(run: dict, mechanism: str) -> dict[tuple[float, float], str]:
    """Per x/r window: 'n rate / n integrated (p, s)' of one run, or '–' where the run does not cover it."""
    found = estimates(run)
    xs = run["x_over_r"]
    cells = {}
    for lo, hi in WINDOWS:
        if min(xs) > lo + 1e-9 or max(xs) < hi:  # a start at x = lo covers the window (rounding aside)
            cells[(lo, hi)] = "–"
            continue
        _, nr, _, ni = found[(lo, hi)]
        p, _, s = shape_terms(run, lo, hi, mechanism)
        cells[(lo, hi)] = f"{_fmt(nr)} / {_fmt(ni)} (p {_fmt(p)}, s {_fmt(s)})"
    return cells


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_neck_sharp", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanism", choices=sorted(VELOCITY), default="vol",
                    help="volume diffusion (one-sided Mullins–Sekerka) or surface diffusion (Mullins), of two "
                         "cylinders; surf3d: surface diffusion of two spheres")
    ap.add_argument("--points", default="256", help="points on the curve; a comma list gives a resolution study")
    ap.add_argument("--step", default="0.002", help="step as a fraction of x/(dx/dt); a comma list gives a step study")
    ap.add_argument("--neck", type=float, default=0.2, help="the start's neck half-width x/r")
    ap.add_argument("--remesh-every", type=int, default=1,
                    help="redistribute the points after every this many steps (10 keeps long runs steadier)")
    ap.add_argument("--until", type=float, default=0.62, help="stop once x/r reaches this")
    ap.add_argument("--compare", default=None,
                    help="stored phase-field results (stems under benchmarks/results) to tabulate beside it; "
                         "'' for none (default: the mechanism's stored runs)")
    ap.add_argument("--out", default=None, help="file stem under benchmarks/results (default: print only)")
    args = ap.parse_args(argv)
    points = _numbers(args.points, int, "points", ap)
    if args.remesh_every < 1:
        ap.error(f"--remesh-every: a whole number of steps ≥ 1, got {args.remesh_every}")
    steps = _numbers(args.step, float, "step", ap)
    if len(points) > 1 and len(steps) > 1:
        ap.error("--points and --step: only one of them may be a list")
    compare = {}
    mech = args.mechanism
    drift = "volume" if mech == "surf3d" else "area"
    chosen = DEFAULT_COMPARE[mech] if args.compare is None else args.compare
    for stem in filter(None, (s.strip() for s in chosen.split(","))):
        path = RESULTS / f"{stem}.json"
        try:
            compare[stem] = json.loads(path.read_text())["runs"][0]
        except (OSError, ValueError, KeyError, IndexError) as exc:
            ap.error(f"--compare {stem}: cannot read the stored phase-field series in {path} ({exc})")

    from rich.progress import BarColumn, Progress, TextColumn

    cmd = " ".join(["python -m benchmarks.sinter_neck_sharp", *(argv if argv is not None else sys.argv[1:])])
    records, labels = [], []
    for n_points in points:
        for fraction in steps:
            with Progress(TextColumn(f"N = {n_points}, step {fraction:g}"), BarColumn(),
                          TextColumn("x/r {task.fields[x]:.3f}"), transient=True) as bar:
                task = bar.add_task("neck", total=args.until - args.neck, x=args.neck)
                t0 = time.perf_counter()
                rec = grow_neck(n_points, args.neck, args.until, fraction,
                                progress=lambda x, bar=bar, task=task: bar.update(task, completed=x - args.neck, x=x),
                                remesh_every=args.remesh_every, mechanism=mech)
            rec.update(mechanism=mech, points=n_points, step_fraction=fraction, remesh_every=args.remesh_every,
                       wall_s=time.perf_counter() - t0)
            records.append(rec)
            labels.append(f"sharp, N = {n_points}, step {fraction:g}")
            print(f"{labels[-1]}: {rec['steps']} steps, {rec['wall_s']:.1f} s, {drift} drift {rec['area_drift']:.1e}",
                  flush=True)

    runs = [as_run(r) for r in records] + list(compare.values())
    columns = labels + [f"phase field `{stem}` (r = {run['radius']} cells)" for stem, run in compare.items()]
    cells = [window_cells(run, FLUX[mech]) for run in runs]
    law, unit, flux = LAW[mech]
    lines = [f"# Neck of two {'spheres' if mech == 'surf3d' else 'cylinders'} by "
             f"{'volume' if mech == 'vol' else 'surface'} diffusion: "
             "sharp-interface reference and phase field", "",
             f"`{cmd}` on {platform.machine()}, {os.cpu_count()} cores.  Sharp interface: one grain, {law} "
             f"(`datarial.sinter.sharp`); time in {unit}.  "
             "Cells: n from the rate form / from the integrated law xⁿ = x₀ⁿ + Kt, with the neck's shape "
             f"ρ ∝ xᵖ (classical 2) and the drift s of the classical flux law {flux} ∝ xˢ "
             f"(classical 0).  Classical n = {EXPECTED[mech]}.", ""]
    for rec, label in zip(records, labels, strict=True):
        lines.append(f"- {label}: {rec['steps']} steps, {rec['wall_s']:.1f} s, {drift} drift {rec['area_drift']:.1e}")
    lines += ["", "| x/r window | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for lo, hi in WINDOWS:
        lines.append(f"| {lo}–{hi} | " + " | ".join(c[(lo, hi)] for c in cells) + " |")
    first = records[0]
    x, rho = np.array(first["x_over_r"]), np.array(first["rho_over_r"])
    lines += ["", f"Neck shape of the first sharp run ({labels[0]}):", "",
              "| t | x/r | ρ/r | Kuczynski x²/2(1 − x) |", "|---:|---:|---:|---:|"]
    for target in (0.2, 0.3, 0.4, 0.5, 0.6):
        if x.max() >= target:
            i = int(np.searchsorted(x, target))
            lines.append(f"| {first['t'][i]:.4g} | {x[i]:.3f} | {rho[i]:.4f} | {x[i] ** 2 / (2 * (1 - x[i])):.4f} |")
    print("\n".join(lines))
    if args.out:
        write(args.out, lines, {"command": cmd, "runs": records})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
