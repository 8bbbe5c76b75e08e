"""Neck growth of two equal grains: x/r against time and the exponent n of (x/r)^n ∝ t.

Classical sintering theory (Kuczynski) expects n ≈ 7 when surface diffusion
dominates, ≈ 6 for grain-boundary and ≈ 5 for volume diffusion, in the early
stage (x/r below about 0.3).  The phase-field neck is diffuse: right after the
two grains touch it is already a few interface widths wide, so x/r starts high
unless r is many interface widths.  This script prints what the model does.

Run: ``python -m benchmarks.sinter_neck [--mechanism surf|gb|vol] [--radius 20] [--dim 3] [--time 200]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from datarial.sinter.model import Parameters
from datarial.sinter.packing import two_particles
from datarial.sinter.solver import Simulation, SolverSettings, initial_state, neck_radius

MECHANISMS = {
    "surf": Parameters(M_surf=4.0, M_gb=0.01, M_vol=0.001, M_vap=0.0),
    "gb": Parameters(M_surf=0.05, M_gb=4.0, M_vol=0.001, M_vap=0.0),
    "vol": Parameters(M_surf=0.05, M_gb=0.01, M_vol=1.0, M_vap=0.0),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_neck", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanism", choices=sorted(MECHANISMS), default="surf")
    ap.add_argument("--radius", type=int, default=20, help="grain radius in cells")
    ap.add_argument("--dim", type=int, choices=(2, 3), default=3)
    ap.add_argument("--time", type=float, default=200.0, help="end time (reduced)")
    args = ap.parse_args(argv)
    r = args.radius
    shape = (2 * r + 12, 2 * r + 12, 4 * r + 16) if args.dim == 3 else (2 * r + 16, 4 * r + 24)
    s = SolverSettings(dt=0.1, adaptive=False, dtype="float32")
    sim = Simulation(initial_state(two_particles(shape, r, overlap=0.5), s), MECHANISMS[args.mechanism], s)
    t0 = time.perf_counter()
    ts, xs = [], []
    for t in np.geomspace(0.5, args.time, 40):
        sim.run(float(t))
        ts.append(sim.state.time)
        xs.append(neck_radius(sim.state) / r)
    ts, xs = np.array(ts), np.array(xs)
    print(f"{args.mechanism}, {args.dim}D, r = {r} cells, grid {shape}, {time.perf_counter() - t0:.1f} s")
    print("| t (reduced) | x/r |\n|---:|---:|")
    for t, x in zip(ts[::4], xs[::4], strict=True):
        print(f"| {t:.3g} | {x:.3f} |")
    print("\n| x/r window | fitted n (from log t vs log x/r) |\n|---|---:|")
    for lo, hi in ((0.15, 0.3), (0.2, 0.4), (0.3, 0.5), (0.4, 0.6)):
        sel = (xs > lo) & (xs < hi)
        n = f"{np.polyfit(np.log(xs[sel]), np.log(ts[sel]), 1)[0]:.2f}" if sel.sum() > 3 else "too few points"
        print(f"| {lo}–{hi} | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
