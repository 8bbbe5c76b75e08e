"""A perturbed circle relaxing by volume diffusion against the one-sided Mullins–Sekerka rate.

A 2D particle of one grain with the outline r(θ) = R + a cos mθ relaxes,
with volume diffusion the only path (M_surf = 0), towards a circle.  In the
model's sharp-interface limit (μ harmonic inside, μ = γ_s κ on the outline,
normal velocity −M_vol ∂μ/∂n) the mode decays as a(t) = a₀ exp(−λt) with

    λ = M_vol γ_s m (m² − 1) / R³,

so this checks the phase field's volume-diffusion kinetics where no neck is
involved.  With M_vap > 0 the sharp limit is two-sided: the vapour carries
its share, and the rate is (M_vol + M_vap)/M_vol times λ (the table's λ is
the one-sided one).  The outline is the ρ = ½ contour, read along 720 rays; a(t) is
twice the modulus of its m-th Fourier coefficient.  The table gives λ fitted
over the whole run with a floor, a(t) = a∞ + b exp(−λt), and the local rate
between samples, both against the sharp rate at the run's mean radius.

With M_vap = 0 the low-density foot of a receding surface cannot move (the
mobility h(ρ) ≈ 10ρ³ vanishes there), so the vapour keeps a frozen shell of
ρ ≈ 0.01–0.02 a few cells out that remembers the first outline; a small
vapour mobility lets it rejoin the surface.  The table reports the vapour's
density and its m-th harmonic 3–6 cells outside the surface at the end.
The decay is not one exponential in either case: its local rate starts near
the sharp λ and falls during the run (see the README for the figures).

Run: ``python -m benchmarks.sinter_relax [--radius 24] [--mode 3] [--amplitude 1.5] [--dt 0.01]
[--periods 3] [--set M_vap=0.01,A=8,B=0.5,kappa_rho=20,kappa_eta=10] [--out FILE-STEM]``.
``--periods`` is the run length in units of 1/λ.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import map_coordinates
from scipy.optimize import curve_fit

from datarial.errors import DatarialError
from datarial.sinter.model import Parameters, interface_properties
from datarial.sinter.packing import Packing
from datarial.sinter.solver import Simulation, SolverSettings, initial_state

RESULTS = Path(__file__).with_name("results")
BASE = Parameters(M_surf=0.0, M_gb=0.01, M_vol=1.0, M_vap=0.0)
ANGLES = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)


def outline(rho: np.ndarray, centre: float, r_lo: float, r_hi: float) -> np.ndarray:
    """Radius (cells) of the outermost ρ = ½ crossing along each of ``ANGLES`` from (centre, centre)."""
    radii = np.linspace(r_lo, r_hi, 400)
    ys = centre + radii[None, :] * np.sin(ANGLES)[:, None]
    xs = centre + radii[None, :] * np.cos(ANGLES)[:, None]
    v = map_coordinates(rho, [ys.ravel(), xs.ravel()], order=3).reshape(len(ANGLES), len(radii))
    out = np.empty(len(ANGLES))
    for i, row in enumerate(v):
        down = np.flatnonzero((row[:-1] >= 0.5) & (row[1:] < 0.5))
        if len(down) == 0:
            raise DatarialError(f"no ρ = ½ crossing at θ = {math.degrees(ANGLES[i]):.1f}° between r = {r_lo:g} and {r_hi:g}")
        j = down[-1]
        out[i] = radii[j] + (row[j] - 0.5) / (row[j] - row[j + 1]) * (radii[j + 1] - radii[j])
    return out


def harmonic(values: np.ndarray, m: int) -> float:
    """Amplitude of the m-th harmonic of values sampled at ``ANGLES``."""
    return float(2.0 * abs(np.mean(values * np.exp(-1j * m * ANGLES))))


def relax(params: Parameters, radius: float, mode: int, amplitude: float, dt: float, periods: float,
          samples: int = 30, dtype: str = "float64") -> dict:
    """Run the relaxation; returns the series and the fits (rates in 1/reduced time)."""
    interface = interface_properties(params)
    gamma = interface.gamma_s
    n = int(2 * (radius + amplitude) + 32)
    n += n % 2
    c = (n - 1) / 2
    y, x = np.mgrid[0:n, 0:n]
    inside = np.hypot(y - c, x - c) <= radius + amplitude * np.cos(mode * np.arctan2(y - c, x - c))
    packing = Packing(labels=inside.astype(np.int32), centres=np.array([[c, c]]), rotations=np.eye(3)[None])
    # the grain field split, as in the stored results (the solver's default until 2026-12)
    s = SolverSettings(dt=dt, adaptive=False, dtype=dtype, order=2, eta_scheme="split")
    sim = Simulation(initial_state(packing, s), params, s)
    def sharp_rate(r: float) -> float:  # one-sided Mullins–Sekerka λ at radius r
        return params.M_vol * gamma * mode * (mode * mode - 1) / r**3

    t_end = periods / sharp_rate(radius)
    lo, hi = radius - 3 * amplitude - 6, radius + 3 * amplitude + 6
    ts, amps, means = [], [], []
    t0 = time.perf_counter()
    for t in np.linspace(0.0, t_end, samples + 1):
        if t > 0:
            sim.run(float(np.round(t / dt) * dt))
        r = outline(sim.state.rho.cpu().numpy(), c, lo, hi)
        ts.append(sim.state.time)
        amps.append(harmonic(r, mode))
        means.append(float(r.mean()))
    wall = time.perf_counter() - t0
    ts_a, amps_a = np.array(ts), np.array(amps)
    r_mean = float(np.mean(means[samples // 6:]))
    sharp = sharp_rate(r_mean)
    (a_inf, b, lam), _ = curve_fit(lambda t, a, b, k: a + b * np.exp(-k * t), ts_a, amps_a,
                                   p0=(0.05 * amps_a[0], amps_a[0], sharp), maxfev=20000)
    rho = sim.state.rho.cpu().numpy()
    vapour = []
    for d in (3.0, 4.0, 6.0):
        ring = map_coordinates(rho, [c + (r_mean + d) * np.sin(ANGLES), c + (r_mean + d) * np.cos(ANGLES)], order=3)
        vapour.append((d, float(ring.mean()), harmonic(ring, mode)))
    spectrum = np.abs(np.fft.rfft(r - r.mean()))[:13] * 2 / len(r)
    return {"t": ts, "amplitude": amps, "mean_radius": means, "gamma_s": gamma, "width_s": interface.width_s,
            "sharp_rate": sharp, "r_mean": r_mean,
            "a_inf": float(a_inf), "b": float(b), "rate": float(lam), "vapour": vapour,
            "spectrum": spectrum.tolist(), "grid": n, "wall_s": wall}


def report(run: dict) -> list[str]:
    sharp = run["sharp_rate"]
    t, a = np.array(run["t"]), np.array(run["amplitude"])
    local = -np.diff(np.log(a)) / np.diff(t) / sharp
    lines = ["| t (reduced) | a [cells] | local rate / sharp λ |", "|---:|---:|---:|"]
    lines += [f"| {t[0]:.1f} | {a[0]:.4f} | – |"]
    lines += [f"| {ti:.1f} | {ai:.4f} | {li:.3f} |" for ti, ai, li in zip(t[1:], a[1:], local, strict=True)]
    lines += ["", f"Sharp rate λ = M_vol γ_s m(m²−1)/R³ = {sharp:.5g} at the mean radius "
              f"{run['r_mean']:.2f} cells (γ_s = {run['gamma_s']:.4f}).  "
              f"Fit a∞ + b e^(−λt): **λ / sharp = {run['rate'] / sharp:.3f}**, a∞ = {run['a_inf']:.4f} cells, "
              f"b = {run['b']:.4f} cells; a(end) / a(0) = {a[-1] / a[0]:.4f}.",
              "", "Outline harmonics at the end (cells), m = 0…12: "
              + ", ".join(f"{v:.4f}" for v in run["spectrum"]) + ".",
              "", "Vapour density at the end, d cells outside the mean outline (mean, m-th harmonic): "
              + "; ".join(f"d = {d:g}: {mean:.2e}, {hm:.2e}" for d, mean, hm in run["vapour"])
              + f".  Grid {run['grid']}², {run['wall_s']:.0f} s."]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_relax", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--radius", type=float, default=24.0, help="mean radius R (cells)")
    ap.add_argument("--mode", type=int, default=3, help="harmonic m of the perturbation (≥ 2)")
    ap.add_argument("--amplitude", type=float, default=1.5, help="initial amplitude a₀ (cells)")
    ap.add_argument("--dt", type=float, default=0.01, help="fixed time step (reduced)")
    ap.add_argument("--periods", type=float, default=3.0, help="run length in units of the sharp 1/λ")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--set", default="", help="model parameters to change from M_surf=0, M_vol=1, M_vap=0, e.g. M_vap=0.01")
    ap.add_argument("--out", default=None, help="file stem under benchmarks/results (default: print only)")
    args = ap.parse_args(argv)
    if args.mode < 2:
        ap.error(f"--mode: a harmonic of 2 or more, got {args.mode}")
    if not (args.radius > 0 and args.amplitude > 0 and args.dt > 0 and args.periods > 0):
        ap.error("--radius, --amplitude, --dt and --periods must be positive")
    try:
        changes = {k.strip(): float(v) for k, _, v in (item.partition("=") for item in args.set.split(",") if item)}
        params = BASE.replace(**changes)
    except (ValueError, DatarialError) as exc:
        ap.error(f"--set: name=value pairs of model parameters ({exc})")
    run = relax(params, args.radius, args.mode, args.amplitude, args.dt, args.periods, dtype=args.dtype)
    cmd = " ".join(["python -m benchmarks.sinter_relax", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# Relaxation of a perturbed circle by volume diffusion (m = {args.mode})", "",
             f"`{cmd}` on {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}: R = {args.radius:g}, "
             f"a₀ = {args.amplitude:g} cells, Δt = {args.dt:g} (SBDF2 + ETD2RK), {args.dtype}; surface width (10–90 %) "
             f"{run['width_s']:.2f} cells; M_vol {params.M_vol:g}, M_vap {params.M_vap:g}, M_surf {params.M_surf:g}, L {params.L:g}.",
             "", *report(run)]
    print("\n".join(lines))
    if args.out:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
        print("wrote", RESULTS / f"{args.out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
