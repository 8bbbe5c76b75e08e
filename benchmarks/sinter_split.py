"""How the spectral step's time step moves the equilibrium of flat interfaces, and boundary motion.

By default the spectral step splits the grain fields' Allen–Cahn equation
(Strang): half a step of the local reaction −L ∂f/∂η, the gradient term
L κ_η ∇²η exactly in Fourier space, the other half of the reaction.  A split
step's fixed point is not the equation's equilibrium: it moves with Δt.  The
other scheme, stabilised SBDF2 (``eta_scheme="sbdf2"``), keeps the
equilibrium at any Δt but slows moving boundaries by an O(Δt²) term.  This
script measures both (and a row of the explicit finite-difference reference)
on periodic slabs relaxed to t = 20 at fixed Δt (the default model
parameters; the one-grain slab with M_vol = M_vap = 1, so that its density
relaxes in that time, which makes order 1 unstable from Δt = 0.2):

* the diffusion layers that carry surface and boundary transport,
  ∫ρ²(1−ρ)² dn across a surface and ∫Σ_{i≠j}ηᵢηⱼ dn across a boundary,
  against the continuous 1D profile's (:func:`interface_properties`; the
  unit grid samples the 2.4-cell-wide surface layer to 2.6 %);
* the range of η at a free surface (its equilibrium stays in [0, 1]);
* the area rate k of a shrinking circular grain (R² = R0² − kt) against
  2 L κ_η (the default parameters).

Run: ``python -m benchmarks.sinter_split [--dt 0.005,0.01,0.03,0.05,0.1,0.2,0.4] [--scheme split,sbdf2]
[--explicit 0.002] [--out FILE-STEM]``
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from datarial.errors import DatarialError
from datarial.sinter.model import Parameters, interface_properties
from datarial.sinter.packing import from_labels
from datarial.sinter.solver import Simulation, SolverSettings, initial_state

RESULTS = Path(__file__).with_name("results")


def _relaxed(labels: np.ndarray, params: Parameters, s: SolverSettings, t_end: float) -> Simulation:
    sim = Simulation(initial_state(from_labels(labels), s), params, s)
    sim.run(t_end)
    return sim


def layers(dt: float, order: int, t_end: float = 20.0, **settings) -> dict:
    """Surface and boundary layers of slabs relaxed with fixed ``dt`` (ratios to the 1D profiles), η's range;
    ``settings``: further :class:`SolverSettings` (``eta_scheme``, split unless given; ``method``)."""
    p = Parameters(M_vol=1.0, M_vap=1.0)
    props = interface_properties(p)
    s = SolverSettings(**{"dt": dt, "adaptive": False, "order": order, "dtype": "float64", "eta_scheme": "split",
                          **settings})
    labels = np.zeros((4, 48), int)
    labels[:, 12:36] = 1
    out: dict = {}
    try:
        slab = _relaxed(labels, p, s, t_end)
        rho, eta = slab.state.rho.numpy(), slab.state.eta.numpy()
        out["surface"] = float(((rho * (1 - rho)) ** 2).sum(1).mean()) / 2 / props.layer_s
        out["eta_range"] = (float(eta.min()), float(eta.max()))
    except DatarialError:
        out["surface"], out["eta_range"] = math.nan, (math.nan, math.nan)
    labels[:, 24:] *= 2  # a bicrystal slab; its boundary's η profile does not depend on the mobilities
    try:
        eta = _relaxed(labels, Parameters(), s, t_end).state.eta.numpy()
        out["boundary"] = float((eta.sum(0) ** 2 - (eta**2).sum(0)).sum(1).mean()) / props.layer_gb
    except DatarialError:
        out["boundary"] = math.nan
    return out


def shrink_rate(dt: float, order: int, **settings) -> float:
    """k / (2 L κ_η) of a grain of radius 28 shrinking inside another (96², default parameters, fixed ``dt``;
    ``settings``: further :class:`SolverSettings`; the grain fields split unless ``eta_scheme`` says otherwise)."""
    n = 96
    y, x = np.mgrid[:n, :n]
    labels = np.where((y - 47.5) ** 2 + (x - 47.5) ** 2 <= 28**2, 1, 2)
    p = Parameters()
    s = SolverSettings(**{"dt": dt, "adaptive": False, "order": order, "dtype": "float64", "eta_scheme": "split",
                          **settings})
    try:
        sim = Simulation(initial_state(from_labels(labels), s), p, s)
        f = int(sim.state.grains.field[0])
        times, r2 = [], []
        sim.run(6.0, callback=lambda st: (times.append(st.time), r2.append(float(st.eta[f].sum()) / math.pi)),
                every=1.0)
    except DatarialError:
        return math.nan
    slope = np.polyfit(times[1:], r2[1:], 1)[0]
    return float(-slope / (2 * p.L * p.kappa_eta))


def _f(v: float, digits: int = 3) -> str:
    return "blew up" if not math.isfinite(v) else f"{v:.{digits}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sinter_split", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dt", default="0.005,0.01,0.03,0.05,0.1,0.2,0.4", help="fixed time steps, comma-separated")
    ap.add_argument("--scheme", default="split,sbdf2", help="grain-field schemes (eta_scheme), comma-separated")
    ap.add_argument("--explicit", type=float, default=0.002,
                    help="also a row of the explicit finite-difference reference at this step (0: none)")
    ap.add_argument("--out", default="", help="also write benchmarks/results/STEM.md")
    args = ap.parse_args(argv)
    schemes = [v for v in args.scheme.split(",") if v]
    if not schemes or any(v not in ("split", "sbdf2") for v in schemes):
        ap.error("--scheme: comma-separated 'split' and/or 'sbdf2'")
    try:
        steps = [float(v) for v in args.dt.split(",") if v]
    except ValueError:
        ap.error("--dt: comma-separated positive numbers")
    if not steps or min(steps) <= 0:
        ap.error("--dt: comma-separated positive numbers")
    lines = ["# The grain fields' scheme: equilibrium layers and boundary motion against Δt", "",
             f"`python -m benchmarks.sinter_split --dt {args.dt} --scheme {args.scheme}"
             f"{f' --explicit {args.explicit:g}' if args.explicit != 0.002 else ''}{' --out ' + args.out if args.out else ''}` "
             f"on {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, float64, fixed Δt "
             "(reduced time units).  split: Strang splitting (the default until 2026-12); sbdf2: stabilised SBDF2 "
             "(`eta_scheme`, one step of Δt: `eta_step` = Δt); explicit: the finite-difference reference.", "",
             "| scheme | order | Δt | surface layer / 1D | η range at the surface | boundary layer / 1D | "
             "shrink rate k / 2Lκ_η | wall [s] |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    runs = [("explicit", 1, args.explicit, {"method": "explicit"})] if args.explicit > 0 else []
    # SBDF2 in one step of Δt (its own default would sub-step above 0.025)
    runs += [(sc, order, dt, {"eta_scheme": sc} | ({"eta_step": dt} if sc == "sbdf2" else {}))
             for sc in schemes for order in (1, 2) for dt in steps]
    for name, order, dt, extra in runs:
        t0 = time.perf_counter()
        lay = layers(dt, order, **extra)
        k = shrink_rate(dt, order, **extra)
        lo, hi = lay["eta_range"]
        row = (f"| {name} | {order} | {dt:g} | {_f(lay['surface'])} | {_f(lo, 2)} to {_f(hi, 2)} | "
               f"{_f(lay['boundary'])} | {_f(k)} | {time.perf_counter() - t0:.1f} |")
        lines.append(row)
        print(row, flush=True)
    if args.out:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
        print(f"wrote {RESULTS / (args.out + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
