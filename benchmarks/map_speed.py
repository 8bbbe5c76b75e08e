"""Server-side time to compute model maps (issue 3 targets: 2D 100x100 <= 0.3 s, 3D 20^3 <= 1 s).

A 2D campaign with 50 observations and a 3D campaign with 50 observations are
filled with a smooth synthetic Jc landscape.  Timed, as medians of repeated runs:

* ``map (model cached)``: mean, std, ±1σ band and EI acquisition on the grid,
  from a model already fitted (what the server does when the data did not change);
* ``fit + map``: the same with the GP fitted first (the first map after new data);
* ``reference``: the same grid evaluated with plain BoTorch calls
  (``model.posterior`` and ``LogExpectedImprovement`` on the whole grid tensor,
  autograd on), measured in the same run.

Run: ``./dev bench map_speed`` or ``.venv/bin/python benchmarks/map_speed.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement

from datarial.campaign import Campaign, ExperimentRecord, MeasurementRecord
from datarial.optimize.maps import compute_map
from datarial.space import space_from_text
from datarial.store import Store

RESULTS = Path(__file__).with_name("results")

SPACE_2D = """
name: bench-2d
objective: {name: Jc, unit: A/cm2, goal: maximize}
parameters:
  - {name: T_max, type: continuous, unit: degC, low: 550, high: 900, step: 1}
  - {name: t_hold, type: continuous, unit: min, low: 0, high: 3000, step: 10}
"""
SPACE_3D = SPACE_2D.replace("bench-2d", "bench-3d") + \
    "  - {name: MgB2_frac, type: continuous, unit: '%', low: 0, high: 30, step: 1}\n"


def landscape(u: np.ndarray) -> np.ndarray:
    return 2e4 * np.exp(-np.sum((u - 0.6) ** 2, axis=1) / 0.08) + 3e3 * u[:, 0]


def make_campaign(store: Store, text: str, n: int, seed: int) -> Campaign:
    space = space_from_text(text)
    camp = Campaign.create(store, space)
    rng = np.random.default_rng(seed)
    u = rng.random((n, space.dim))
    recs = []
    for row, y in zip(u, landscape(u), strict=True):
        cond = {p.name: p.coerce(p.value_at(int(round(x * (p.n_levels - 1))))) for p, x in zip(space.parameters, row, strict=True)}
        recs.append(ExperimentRecord(cond, measurements=[MeasurementRecord(float(y))]))
    camp.add_experiments(recs)
    return camp


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def reference(camp: Campaign, axes: list[str], res: int) -> None:
    """The same map with plain BoTorch calls on the full grid (autograd on)."""
    sur = camp.surrogate()
    grids = np.meshgrid(*[np.linspace(0, 1, res)] * len(axes), indexing="ij")
    X = np.stack([g.reshape(-1) for g in grids], -1)
    feats = sur.features(X)
    post = sur.model.posterior(feats)
    _ = post.mean.detach().numpy(), post.variance.sqrt().detach().numpy()
    acq = LogExpectedImprovement(sur.model, best_f=sur.best_f)
    _ = acq(feats.unsqueeze(-2)).detach().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--reference-repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        cases = [("2D 100x100, 50 obs", SPACE_2D, ["T_max", "t_hold"], 100, 0.3),
                 ("3D 20^3, 50 obs", SPACE_3D, ["T_max", "t_hold", "MgB2_frac"], 20, 1.0)]
        for label, text, axes, res, target in cases:
            camp = make_campaign(store, text, 50, seed=1)
            obs = camp.observations()
            camp.model_map(axes, resolution=res)  # warm-up (imports, first fit)
            sur = camp.surrogate(observations=obs)
            cached = timed(lambda c=camp, a=axes, r=res, s=sur, o=obs: compute_map(
                c.space, s, a, resolution=r, acquisition="ei", observations=o), args.repeats)

            def cold(c=camp, a=axes, r=res, o=obs):
                from datarial.optimize import fit_surrogate
                s = fit_surrogate(c.space, c.space.to_unit(o.columns), o.values, c.settings)
                compute_map(c.space, s, a, resolution=r, acquisition="ei", observations=o)

            fit_map = timed(cold, max(3, args.repeats // 2))
            ref = timed(lambda c=camp, a=axes, r=res: reference(c, a, r), args.reference_repeats)
            rows.append((label, cached, fit_map, ref, target))
    lines = [
        f"Map computation (mean, std, ±1σ band, EI acquisition), median of {args.repeats} runs "
        f"(fit + map: {max(3, args.repeats // 2)}); reference: plain BoTorch on the whole grid, "
        f"median of {args.reference_repeats}.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}.",
        "",
        "| case | map, model cached [s] | fit + map [s] | plain BoTorch reference [s] | reference / cached | target [s] |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, cached, fit_map, ref, target in rows:
        lines.append(f"| {label} | {cached:.3f} | {fit_map:.3f} | {ref:.2f} | {ref / cached:.0f}× | ≤ {target} |")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "map_speed.md").write_text(text + "\n", encoding="utf-8")

if __name__ == "__main__":
    main()
