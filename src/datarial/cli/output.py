"""Rendering campaign results for the terminal (rich tables, units in headers)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from datarial.campaign import CampaignStatus, ProposalBatch, ProposedExperiment
from datarial.campaign.records import column_label
from datarial.errors import DatarialError
from datarial.space import SearchSpace

# markup off: file names, units such as [A/cm2] and campaign names are printed as written.
console = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 200)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def conditions_text(space: SearchSpace, conditions: dict[str, Any]) -> str:
    return ", ".join(f"{p.name}={fmt(conditions[p.name])}{(' ' + p.unit) if p.unit else ''}"
                     for p in space.parameters)


def proposals_table(space: SearchSpace, proposals: list[ProposedExperiment], title: str) -> Table:
    obj = space.objective
    t = Table(title=title, title_justify="left")
    t.add_column("proposal_id", justify="right")
    t.add_column("round", justify="right")
    for p in space.parameters:
        t.add_column(column_label(p.name, p.unit), justify="right")
    std_unit = "decades" if obj.transform == "log" else obj.unit
    t.add_column(f"predicted {column_label(obj.name, obj.unit)}", justify="right")
    t.add_column(f"std [{std_unit}]" if std_unit else "std", justify="right")
    t.add_column("acquisition", justify="right")
    for pr in proposals:
        t.add_row(str(pr.proposal_id), str(pr.round), *[fmt(pr.conditions[p.name]) for p in space.parameters],
                  fmt(pr.predicted_mean), fmt(pr.predicted_std), fmt(pr.acquisition_value))
    return t


def print_batch(space: SearchSpace, batch: ProposalBatch) -> None:
    how = "initial design: " + batch.method if batch.method != "model" else f"model, acquisition {batch.acquisition}"
    console.print(proposals_table(space, batch.proposals,
                                  f"Batch {batch.batch_id}, round {batch.round} ({how}, seed {batch.seed})"))


def print_status(st: CampaignStatus) -> None:
    space, obj = st.space, st.space.objective
    console.print(f"{st.name}: objective {obj.label} ({obj.goal})", style="bold")
    console.print(f"  experiments: {st.experiments} ({st.researcher_experiments} researcher, "
                  f"{st.proposed_experiments} proposed; {st.flagged_experiments} flagged), "
                  f"measurements: {st.measurements}, pending proposals: {len(st.pending)}")
    if st.best is not None:
        sd = f" ± {fmt(st.best.sd)}" if st.best.sd is not None else ""
        console.print(f"  best: {fmt(st.best.mean)}{sd} {obj.unit} (n={st.best.n}) at "
                      f"{conditions_text(space, st.best.conditions)} [experiment {st.best.experiment_id}, round {st.best.round}]")
    t = Table(title="Rounds", title_justify="left")
    t.add_column("round", justify="right")
    t.add_column("experiments", justify="right")
    t.add_column("measurements", justify="right")
    t.add_column(f"best in round [{obj.unit}]" if obj.unit else "best in round", justify="right")
    t.add_column(f"best so far [{obj.unit}]" if obj.unit else "best so far", justify="right")
    t.add_column("best-so-far conditions")
    for r in st.rounds:
        t.add_row(str(r.round), str(r.experiments), str(r.measurements),
                  fmt(r.best_in_round.mean) if r.best_in_round else "-",
                  fmt(r.best_so_far.mean) if r.best_so_far else "-",
                  conditions_text(space, r.best_so_far.conditions) if r.best_so_far else "-")
    console.print(t)
    if st.pending:
        console.print(proposals_table(space, st.pending, "Pending proposals"))


def print_diagnostics(space: SearchSpace, d) -> None:
    """Leave-one-out table (worst conditions first) and the summary numbers."""
    obj = space.objective
    unit = f" [{obj.unit}]" if obj.unit else ""
    table = Table(title=f"Leave-one-out predictions of {obj.label} (largest |z| first)")
    for col in ("conditions", "n", f"measured{unit}", f"predicted{unit}", f"σ [{d.std_unit}]" if d.std_unit else "σ", "z"):
        table.add_column(col, justify="left" if col == "conditions" else "right")
    cols = d.conditions(space)
    order = np.argsort(-np.abs(d.z))
    for i in order[:15]:
        cond = conditions_text(space, {n: cols[n][i] for n in space.names})
        table.add_row(cond, str(d.n_replicates[i]), fmt(d.measured[i]), fmt(d.predicted[i]),
                      fmt(d.predicted_std[i], 3), f"{d.z[i]:+.2f}")
    if len(order) > 15:
        table.caption = f"… and {len(order) - 15} more conditions (--out writes them all)"
    console.print(table)
    console.print(f"R² (leave-one-out, {d.model_space}): {d.r2:.3f}   RMSE: {fmt(d.rmse, 3)}   "
                  f"within ±1σ: {100 * d.within_1sigma:.0f} % (68 % expected)   "
                  f"within ±2σ: {100 * d.within_2sigma:.0f} % (95 % expected)")
    console.print(d.verdict)


def print_descriptor_check(check) -> None:
    """R² with and without the descriptors, and how strongly the model uses each input."""
    a, b = check.with_descriptors, check.process_only
    table = Table(title=f"Descriptors as model inputs ({check.experiments} experiments"
                        + (f"; {check.skipped} without every descriptor left out)" if check.skipped else ")"))
    for col in ("model", f"LOO R² ({a.model_space})", "RMSE", "within ±1σ"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_row("process parameters", f"{b.r2:.3f}", fmt(b.rmse, 3), f"{100 * b.within_1sigma:.0f} %")
    table.add_row("process + " + ", ".join(check.names), f"{a.r2:.3f}", fmt(a.rmse, 3), f"{100 * a.within_1sigma:.0f} %")
    console.print(table)
    ls = sorted(check.lengthscales.items(), key=lambda kv: kv[1])
    console.print("Lengthscales (fraction of each input's range; shorter = stronger effect): "
                  + ", ".join(f"{n} {v:.2g}" for n, v in ls))


def check_output_path(path: Path | None, suffixes: tuple[str, ...], option: str) -> None:
    """Refuse an output file with the wrong suffix or in a missing folder, before any work is done."""
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise DatarialError(f"{option}: {path} should end in {' or '.join(suffixes)}")
    if not path.parent.exists():
        raise DatarialError(f"{option}: folder {path.parent} does not exist")
