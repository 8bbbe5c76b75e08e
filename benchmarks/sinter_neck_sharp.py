"""Sharp-interface reference for the neck of two cylinders, beside the phase-field runs.

Solves the zero-width limit of the phase-field model's one-grain volume
diffusion case (``--mechanism vol``, ``datarial.sinter.sharp``: μ harmonic in
the solid, μ = κ on its surface, V = −∂μ/∂n) or surface-diffusion case
(``--mechanism surf``: V = ∂²κ/∂s²), or the neck of two spheres by surface
diffusion (``--mechanism surf3d``: V = Δ_s H on the surface of revolution, H
the sum of the principal curvatures), from a smooth neck of half-width ``--neck``
to ``--until``, and reports per x/r window the exponent n of xⁿ ∝ t (rate form
and integrated law, as ``benchmarks.sinter_neck``), the neck shape ρ ∝ xᵖ and
the drift s of the mechanism's classical flux law.  ``--mechanism gb``: two
cylinders of two grains, a grain boundary between them
(``datarial.sinter.sharp.grow_boundary_neck``): surface diffusion, diffusion along
the boundary (``--beta`` = D_gb δ_gb/(D_s δ_s)), the dihedral angle ``--dihedral`` at
the junction and the grains' approach; by default β and ψ of the phase field's
grain-boundary case (``benchmarks.sinter_neck --mechanism gb``; ``--like surf``: of
its surface-diffusion case, whose grains meet at a boundary too), from Kuczynski's
fillet between cylinders ``--centre`` radii from the boundary (1: touching).  With
``--beta 0 --dihedral 180`` it is the one-grain surface-diffusion neck from that
start, and ``--start smooth`` takes the closed-curve model's start instead;
``--spheres``: two spheres instead of two cylinders.
``--points 192,256,384`` runs a resolution study; ``--step 0.002,0.001`` a time-step study (each step is that
fraction of the neck's time scale x/(dx/dt); with ``--remesh-every 10``, since
a redistribution after each of a thousand steps can make the curve run away).  ``--compare`` names stored
phase-field results (``benchmarks/results/STEM.json``) to tabulate beside it.

Run: ``python -m benchmarks.sinter_neck_sharp [--mechanism vol|surf|surf3d|gb] [--points 256] [--step 0.002] [--neck 0.2]
[--until 0.62] [--beta 1136,57] [--dihedral 145.6] [--like gb|surf] [--centre 1,1.03] [--start fillet|smooth] [--spheres]
[--remesh-every 1] [--compare sinter_neck_2d_vol_etd2_r80_f64_one_grain,...] [--out FILE-STEM]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import sys
import time

import numpy as np

from benchmarks.sinter_neck import (
    EXPECTED,
    MECHANISMS,
    RESULTS,
    WINDOWS,
    _fmt,
    estimates,
    shape_terms,
    write,
)
from datarial.sinter.model import interface_properties
from datarial.sinter.sharp import VELOCITY, grow_boundary_neck, grow_neck, quarter_of, two_cylinders

DEFAULT_COMPARE = {"vol": "sinter_neck_2d_vol_etd2_r80_f64_one_grain,sinter_neck_2d_vol_etd2_r80_f64",
                   "surf": "sinter_neck_2d_surf_etd2_r40_f64_one_grain,sinter_neck_2d_surf_etd2_dt05_float64",
                   "surf3d": "", "gb": "sinter_neck_2d_gb_shape,sinter_neck_2d_gb_stiff_etd2_f64"}
LAW = {"vol": ("V = −∂μ/∂n with μ harmonic in the solid and μ = κ on its surface", "r³kT/(DγΩ)", "x²·(dx/dt)·ρ"),
       "surf": ("V = ∂²κ/∂s² (Mullins)", "r⁴kT/(D_sδ_sγΩ)", "x²·(dx/dt)·ρ²"),
       "surf3d": ("V = Δ_s H on the surface of revolution, H = κ₁ + κ₂ (Mullins)", "r⁴kT/(D_sδ_sγΩ)",
                  "x²·(dx/dt)·ρ²"),
       "gb": ("surface diffusion V = ∂²κ/∂s² and diffusion along the boundary (D_gb δ_gb = β D_s δ_s) into the "
              "junction, where the surfaces meet at the dihedral angle ψ; the grains approach at the rate the "
              "boundary's diffusion and zero load allow", "r⁴kT/(D_sδ_sγ_sΩ)", "(dh/dt)·ρ·x² (Coble)")}
# the flux law of the sphere pair's surface diffusion has the cylinders' form (see benchmarks.sinter_neck)
FLUX = {"vol": "vol", "surf": "surf", "surf3d": "surf", "gb": "gb"}


def phase_field_boundary(case: str = "gb") -> tuple[float, float]:
    """(β, ψ in degrees) of one of the phase field's two-grain neck cases (``benchmarks.sinter_neck``'s
    mechanisms): β = M_gb·layer_gb/(M_surf·layer_s) (the integrated transport of the boundary over that of the
    surface) and cos(ψ/2) = γ_gb/(2γ_s)."""
    params = MECHANISMS[case]
    props = interface_properties(params)
    beta = params.M_gb * props.layer_gb / (params.M_surf * props.layer_s)
    return beta, 2.0 * math.degrees(math.acos(props.gamma_gb / (2.0 * props.gamma_s)))


def _numbers(text: str, kind, name: str, ap: argparse.ArgumentParser, zero: bool = False) -> list:
    what = "numbers ≥ 0" if zero else "positive numbers"
    try:
        values = [kind(v) for v in text.split(",")]
    except ValueError:
        ap.error(f"--{name}: a comma list of {what}, got {text!r}")
    if not all(v > 0 or (zero and v == 0) for v in values):
        ap.error(f"--{name}: a comma list of {what}, got {text!r}")
    return values


def as_run(record: dict) -> dict:
    """A sharp-interface record in the phase-field benchmark's run layout (lengths in radii, r = 1)."""
    return {"radius": 1, "t": record["t"], "x_over_r": record["x_over_r"], "rho_neck": record["rho_over_r"],
            "approach": record.get("approach", [float("nan")] * len(record["t"]))}


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
        p, q, s = shape_terms(run, lo, hi, mechanism)
        shape = f"p {_fmt(p)}, q {_fmt(q)}" if mechanism == "gb" else f"p {_fmt(p)}"
        cells[(lo, hi)] = f"{_fmt(nr)} / {_fmt(ni)} ({shape}, s {_fmt(s)})"
    return cells


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_neck_sharp", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanism", choices=[*sorted(VELOCITY), "gb"], default="vol",
                    help="volume diffusion (one-sided Mullins–Sekerka) or surface diffusion (Mullins), of two "
                         "cylinders; surf3d: surface diffusion of two spheres; gb: two cylinders of two grains, "
                         "surface and grain-boundary diffusion")
    ap.add_argument("--points", default=None,
                    help="points on the curve (default 256, 150 for gb); a comma list gives a resolution study")
    ap.add_argument("--beta", default=None, help="gb: D_gb δ_gb/(D_s δ_s) (default: the phase field's); a comma "
                                                 "list gives a study")
    ap.add_argument("--dihedral", type=float, default=None, help="gb: dihedral angle ψ in degrees (default: the "
                                                                 "phase field's)")
    ap.add_argument("--like", choices=["gb", "surf"], default="gb",
                    help="gb: take the default β and ψ from this phase-field case of benchmarks.sinter_neck "
                         "(surf: the surface-diffusion case, whose grains also have a boundary, β 0.036)")
    ap.add_argument("--centre", default=None,
                    help="the start's disc centres, radii from the symmetry line (1: touching; default: 1 for gb, "
                         "else where a smooth union has Kuczynski's neck curvature, 1.069 for a neck of 0.2); "
                         "a comma list gives a study")
    ap.add_argument("--spheres", action="store_true", help="gb: two spheres (the curve their meridian) instead of "
                                                            "two cylinders")
    ap.add_argument("--start", choices=["fillet", "smooth"], default="fillet",
                    help="gb: Kuczynski's fillet, or (ψ = 180° only) the closed-curve model's smooth start")
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
    mech = args.mechanism
    boundary = mech == "gb"
    points = _numbers(args.points or ("150" if boundary else "256"), int, "points", ap)
    if args.remesh_every < 1:
        ap.error(f"--remesh-every: a whole number of steps ≥ 1, got {args.remesh_every}")
    steps = _numbers(args.step, float, "step", ap)
    # the phase field's β and ψ (relaxed 1D interface profiles) only where they are the defaults in use
    needed = boundary and (args.beta is None or args.dihedral is None)
    pf_beta, pf_dihedral = phase_field_boundary(args.like) if needed else (0.0, 180.0)
    betas = [pf_beta] if args.beta is None else _numbers(args.beta, float, "beta", ap, zero=True)
    fillet = boundary and args.start == "fillet"
    centres = ([1.0] if fillet else [None]) if args.centre is None else _numbers(args.centre, float, "centre", ap)
    dihedral = pf_dihedral if args.dihedral is None else args.dihedral
    if not boundary and (args.beta is not None or args.dihedral is not None or args.start != "fillet"
                         or args.like != "gb" or args.spheres):
        ap.error("--beta, --dihedral, --like, --spheres and --start belong to --mechanism gb")
    if not 0.0 < dihedral <= 180.0:
        ap.error(f"--dihedral: an angle in (0, 180] degrees, got {dihedral:g}")
    if args.start == "smooth" and dihedral != 180.0:
        ap.error("--start smooth: the closed-curve start has no grain boundary; give --dihedral 180")
    if sum(len(v) > 1 for v in (points, steps, betas, centres)) > 1:
        ap.error("--points, --step, --beta and --centre: only one of them may be a list")
    compare = {}
    drift = "volume" if mech == "surf3d" or args.spheres else "area"
    chosen = ("" if args.spheres else DEFAULT_COMPARE[mech]) if args.compare is None else args.compare
    for stem in filter(None, (s.strip() for s in chosen.split(","))):
        path = RESULTS / f"{stem}.json"
        try:
            compare[stem] = json.loads(path.read_text())["runs"][0]
        except (OSError, ValueError, KeyError, IndexError) as exc:
            ap.error(f"--compare {stem}: cannot read the stored phase-field series in {path} ({exc})")

    from rich.progress import BarColumn, Progress, TextColumn

    cmd = " ".join(["python -m benchmarks.sinter_neck_sharp", *(argv if argv is not None else sys.argv[1:])])
    records, labels = [], []
    for n_points, fraction, beta, centre in itertools.product(points, steps, betas if boundary else [None], centres):
        label = f"sharp, N = {n_points}, step {fraction:g}"
        if boundary:
            label += f", β = {beta:.4g}, ψ = {dihedral:.4g}°"
        if args.start == "smooth":
            label += ", smooth start"
        if centre is not None:
            label += f", centre {centre:g}"
        with Progress(TextColumn(label), BarColumn(), TextColumn("x/r {task.fields[x]:.3f}"), transient=True) as bar:
            task = bar.add_task("neck", total=args.until - args.neck, x=args.neck)

            def progress(x: float, bar=bar, task=task) -> None:
                bar.update(task, completed=x - args.neck, x=x)

            t0 = time.perf_counter()
            if boundary:
                start = None if fillet else quarter_of(two_cylinders(256, args.neck, centre), n_points)
                rec = grow_boundary_neck(n_points, args.neck, args.until, dihedral, beta, centre if fillet else 1.0, fraction,
                                         start=start, progress=progress, spheres=args.spheres)
                rec.pop("curve")
                rec.update(beta=beta, dihedral=dihedral, centre=centre, start=args.start, spheres=args.spheres)
            else:
                rec = grow_neck(n_points, args.neck, args.until, fraction, progress=progress,
                                remesh_every=args.remesh_every, mechanism=mech, centre=centre)
                rec["centre"] = centre
        rec.update(mechanism=mech, points=n_points, step_fraction=fraction, remesh_every=args.remesh_every,
                   wall_s=time.perf_counter() - t0)
        records.append(rec)
        labels.append(label)
        print(f"{label}: {rec['steps']} steps, {rec['wall_s']:.1f} s, {drift} drift {rec['area_drift']:.1e}", flush=True)

    runs = [as_run(r) for r in records] + list(compare.values())
    columns = labels + [f"phase field `{stem}` (r = {run['radius']} cells)" for stem, run in compare.items()]
    # without boundary flux the two-grain model is a surface-diffusion neck (one grain at ψ = 180°): its law
    surface_only = boundary and not any(betas)
    kind = "surf" if surface_only else mech
    cells = [window_cells(run, FLUX[kind]) for run in runs]
    law, unit, flux = LAW[mech]
    if args.spheres:
        law = law.replace("V = ∂²κ/∂s²", "V = Δ_s H on the surface of revolution, H = κ₁ + κ₂,")
    if surface_only:
        law = (f"{LAW['surf3d' if args.spheres else 'surf'][0]}, by the two-grain model with β = 0 and "
               + ("ψ = 180° (no boundary)" if dihedral == 180.0 else
                  "the surfaces meeting at the dihedral angle ψ at a boundary that carries no flux"))
        flux = LAW["surf"][2]
    how = {"vol": "volume diffusion", "gb": "surface and grain-boundary diffusion"}.get(kind, "surface diffusion")
    grains = boundary and dihedral < 180.0
    lines = [f"# Neck of two {'spheres' if mech == 'surf3d' or args.spheres else 'cylinders'}"
             f"{' of two grains' if grains else ''} by {how}: sharp-interface reference and phase field", "",
             f"`{cmd}` on {platform.machine()}, {os.cpu_count()} cores.  Sharp interface: "
             f"{'two grains' if grains else 'one grain'}, {law} "
             f"(`datarial.sinter.sharp`); time in {unit}.  "
             "Cells: n from the rate form / from the integrated law xⁿ = x₀ⁿ + Kt, with the neck's shape "
             f"ρ ∝ xᵖ (classical 2){', the approach h ∝ x^q (classical 2)' if boundary and not surface_only else ''} and the drift s "
             f"of the classical flux law {flux} ∝ xˢ "
             f"(classical 0).  Classical n = {EXPECTED[kind]}.", ""]
    for rec, label in zip(records, labels, strict=True):
        lines.append(f"- {label}: {rec['steps']} steps, {rec['wall_s']:.1f} s, {drift} drift {rec['area_drift']:.1e}")
    lines += ["", "| x/r window | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for lo, hi in WINDOWS:
        lines.append(f"| {lo}–{hi} | " + " | ".join(c[(lo, hi)] for c in cells) + " |")
    first = records[0]
    x, rho = np.array(first["x_over_r"]), np.array(first["rho_over_r"])
    approach = np.array(first.get("approach", [np.nan] * len(x)))
    lines += ["", f"Neck shape of the first sharp run ({labels[0]}):", "",
              "| t | x/r | ρ/r | Kuczynski x²/2(1 − x) |" + (" approach h/r of each centre |" if boundary else ""),
              "|---:|---:|---:|---:|" + ("---:|" if boundary else "")]
    for target in (0.2, 0.3, 0.4, 0.5, 0.6):
        if x.max() >= target:
            i = int(np.searchsorted(x, target))
            lines.append(f"| {first['t'][i]:.4g} | {x[i]:.3f} | {rho[i]:.4f} | {x[i] ** 2 / (2 * (1 - x[i])):.4f} |"
                         + (f" {approach[i]:.4f} |" if boundary else ""))
    print("\n".join(lines))
    if args.out:
        write(args.out, lines, {"command": cmd, "runs": records})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
