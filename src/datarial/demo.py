"""The demo campaign: MgB2 heat treatment on a synthetic Jc landscape.

:func:`mgb2_jc` is a made-up but plausible Jc(4.2 K, 7 T) of an MgB2 wire as a
function of heat-treatment temperature, hold time and MgB2 powder fraction,
with two peaks — a sharp one near 700 °C with a short hold, and a broader,
slightly higher one at high temperature with a long hold — and replicate
noise.  :func:`run_demo` runs the whole loop on it through the same files a
lab would use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datarial.campaign import Campaign
from datarial.io.tables import write_table
from datarial.space import load_space
from datarial.store import Store

EXAMPLES = Path(__file__).with_name("examples")
MGB2_SPACE = EXAMPLES / "mgb2-imd.yaml"

#: Corners and centre of the first round (the researcher-driven start of the MgB2 study).
FIRST_ROUND = [(550, 0), (550, 3000), (900, 0), (900, 3000), (730, 1500)]


def mgb2_jc(T_max: np.ndarray, t_hold: np.ndarray, mgb2_frac: np.ndarray,
            rng: np.random.Generator | None = None, noise: float = 0.05) -> np.ndarray:
    """Synthetic Jc at 4.2 K, 7 T in A/cm² for T_max in °C, t_hold in min, MgB2 fraction in %.

    ``noise`` is the relative (log-normal) replicate scatter; ``rng=None`` gives the
    noise-free landscape.
    """
    T = np.asarray(T_max, dtype=float)
    u = np.log10(1.0 + np.asarray(t_hold, dtype=float))  # hold time acts on a log scale
    frac = np.asarray(mgb2_frac, dtype=float)
    short = np.exp(-(((T - 700.0) / 30.0) ** 2) - ((u - np.log10(31.0)) / 0.45) ** 2)
    long = 1.15 * np.exp(-(((T - 840.0) / 45.0) ** 2) - ((u - np.log10(2001.0)) / 0.35) ** 2)
    additive = np.where(np.isclose(frac, 10.0), 1.08, np.where(np.isclose(frac, 30.0), 0.88, 1.0))
    jc = 2.0e4 * (short + long) * additive + 800.0
    if rng is not None and noise > 0:
        jc = jc * rng.lognormal(0.0, noise, size=jc.shape)
    return jc


@dataclass(frozen=True)
class DemoRound:
    round: int
    best_conditions: dict
    best_mean: float
    best_so_far: float


def run_demo(db: str | Path = "datarial-demo.db", rounds: int = 3, batch_size: int = 5, replicates: int = 2,
             seed: int = 7, workdir: str | Path = "demo-out", fresh: bool = True,
             echo: Callable[[str], None] = print) -> list[DemoRound]:
    """Run the MgB2 demo: first round by the researcher, then ``rounds`` optimizer rounds.

    Writes the database ``db`` (SQLite file unless a URL is given) and the
    proposal/result files of each round under ``workdir``.
    """
    db = str(db)
    if fresh and "://" not in db:
        for suffix in ("", "-wal", "-shm"):
            Path(db + suffix).unlink(missing_ok=True)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    store = Store(db)
    space = load_space(MGB2_SPACE)
    campaign = Campaign.create(store, space, created_by="demo")
    obj = space.objective.label
    echo(f"Created campaign '{campaign.name}' in {store.safe_url}")
    echo(space.describe())

    # Round 1 (researcher-driven): corners + centre, MgB2 fraction 0 %, in replicate.
    rows = []
    for T, t in FIRST_ROUND:
        for _ in range(replicates):
            rows.append({"T_max [degC]": T, "t_hold [min]": t, "MgB2_frac [%]": 0,
                         obj: float(mgb2_jc(T, t, 0, rng)), "measured_by": "researcher"})
    first = workdir / "round-1-researcher.csv"
    write_table(pd.DataFrame(rows), first)
    report = campaign.import_file(first)
    echo(f"Round 1: imported {report.experiments} researcher experiments ({report.measurements} measurements) from {first}")

    for _ in range(rounds):
        batch = campaign.propose(batch_size, seed=seed, by="demo")
        frame = campaign.proposals_frame(batch.proposals)
        out = workdir / f"round-{batch.round}-proposals.csv"
        write_table(frame, out)
        # "Measure" each proposal in replicate and fill in the file, as a lab would.
        measured = frame.loc[frame.index.repeat(replicates)].reset_index(drop=True)
        measured[obj] = mgb2_jc(measured["T_max [degC]"].to_numpy(), measured["t_hold [min]"].to_numpy(),
                                measured["MgB2_frac [%]"].to_numpy(), rng)
        results = workdir / f"round-{batch.round}-results.csv"
        write_table(measured, results)
        rec = campaign.record_file(results, by="demo")
        echo(f"Round {batch.round}: proposed {len(batch.proposals)} ({batch.method}, {batch.acquisition}), "
             f"recorded {rec.measurements} measurements from {results}")

    status = campaign.status()
    out = []
    for r in status.rounds:
        if r.best_in_round is None:
            continue
        out.append(DemoRound(r.round, r.best_in_round.conditions, r.best_in_round.mean, r.best_so_far.mean))
    return out
