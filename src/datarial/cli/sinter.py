"""``datarial sinter``: phase-field sintering runs, anisotropy fits and data assimilation."""

from __future__ import annotations

import math
from pathlib import Path

import click

from datarial.cli.output import console
from datarial.errors import DatarialError


@click.group("sinter")
def sinter() -> None:
    """Phase-field sintering simulation (density + grain order parameters, rigid-body motion)."""


@sinter.command("run")
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output folder [default: CONFIG name without .yaml].")
@click.option("--device", default=None, help="Override solver.device: cpu, cuda, cuda:N or auto.")
@click.option("--vtk/--no-vtk", default=True, show_default=True, help="Also write one .vti per snapshot (ParaView).")
@click.option("--attach", "attach_to", nargs=2, default=None, metavar="CAMPAIGN EXPERIMENT_ID",
              help="Store the final measures as descriptors of this experiment (with --db).")
@click.option("--db", envvar="DATARIAL_DB", default=None, help="Database of the campaign for --attach.")
def run_cmd(config: Path, out: Path | None, device: str | None, vtk: bool, attach_to: tuple[str, str] | None,
            db: str | None) -> None:
    """Run the simulation described by CONFIG (YAML); writes snapshots, measures and figures.

    Outputs in --out: snapshots.zarr (ρ and grain map per snapshot), snapshot_NNN.vti,
    measures.csv (mass, density, centre distance, neck radius, convex-hull volume per
    snapshot), section_NNN.png (mid-plane ρ and grains) and, in 3D, surface_final.png.
    """
    import dataclasses

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from datarial.sinter.config import load_config
    from datarial.sinter.output import (
        SnapshotWriter,
        cross_section_png,
        isosurface_png,
        measures_frame,
        write_vti,
    )
    from datarial.sinter.solver import Simulation, initial_state, measures

    cfg = load_config(config)
    target = None
    if attach_to:  # open it first: a wrong campaign or experiment fails before the run, not after
        from datarial.cli.campaign import _open

        try:
            target = (_open(attach_to[0], db), int(attach_to[1]))
        except ValueError:
            raise DatarialError(f"--attach: experiment id {attach_to[1]!r} is not a whole number") from None
        target[0].experiment(target[1])
    settings = dataclasses.replace(cfg.solver, device=device) if device else cfg.solver
    out = out or config.with_suffix("")
    out.mkdir(parents=True, exist_ok=True)
    packing = cfg.packing()
    state = initial_state(packing, settings)
    rs = cfg.pair_factors(packing)
    sim = Simulation(state, cfg.params, settings, anisotropy=cfg.anisotropy, pair_factors=None if rs is None else rs[0])
    scheme = settings.scheme()
    console.print(f"{packing.n} grains in {state.eta.shape[0]} order-parameter fields on a "
                  f"{'×'.join(map(str, cfg.grid))} grid; {settings.method} solver{f' ({scheme})' if scheme else ''}, "
                  f"{settings.dtype}, "
                  f"device {state.rho.device}")
    if rs is not None:
        import numpy as np

        from datarial.sinter.model import PAIR_FACTOR_MIN

        w, ang, ratio = rs
        iu = np.triu_indices(packing.n, 1)
        low = ang[iu] < cfg.read_shockley[0]
        floor = w[iu] <= PAIR_FACTOR_MIN + 1e-9
        console.print(f"Read–Shockley boundary energies (θ_m = {cfg.read_shockley[0]:g}°, {cfg.read_shockley[1]}): "
                      f"{int(low.sum())} of {iu[0].size} grain pairs below θ_m"
                      + (f", {int(floor.sum())} of them at the lowest energy the model holds "
                         f"({ratio[iu][floor].min():.2f} γ_gb)" if floor.any() else ""))
    writer = SnapshotWriter(out, state.shape, {"config": str(config), "time_unit_s": cfg.time_unit_s,
                                               "spacing_m": cfg.spacing_m, "params": cfg.params.to_dict()})
    rows = []

    def snapshot(st) -> None:
        k = writer.add(st)
        rows.append(measures(st))
        label = f"t = {st.time:.4g}" + (f" ({st.time * cfg.time_unit_s:.3g} s)" if cfg.time_unit_s else "")
        cross_section_png(st, out / f"section_{k:03d}.png", label)
        if vtk:
            write_vti(out / f"snapshot_{k:03d}.vti", {"rho": st.rho.detach().cpu().numpy().astype("float32"),
                                                      "grain": st.grain_map().astype("int32")})

    snapshot(state)
    with Progress(TextColumn("sintering"), BarColumn(), TextColumn("t = {task.completed:.4g} / {task.total:.4g}"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("run", total=cfg.time)
        sim.run(cfg.time, callback=snapshot, every=cfg.time / cfg.snapshots,
                progress=lambda t, total: bar.update(task, completed=t))
    frame = measures_frame(rows, cfg.time_unit_s)
    frame.to_csv(out / "measures.csv", index=False)
    if state.dim == 3:
        isosurface_png(state, out / "surface_final.png", f"t = {state.time:.4g}")
    last = rows[-1]
    console.print(f"{state.steps} steps ({sim.rejected} rejected), final Δt {sim.dt:.3g}; mass change "
                  f"{(last.mass - rows[0].mass) / rows[0].mass:+.2e}; relative density {last.density:.4f}")
    console.print(frame.iloc[[0, -1]].to_string(index=False))
    if target is not None:
        from datarial.sinter.output import final_descriptors

        values = final_descriptors(rows, cfg.spacing_m, cfg.time_unit_s)
        target[0].set_descriptors(target[1], values, source=f"sinter run {config.name}")
        console.print(f"Attached {len(values)} descriptors to experiment {target[1]} of '{target[0].name}': "
                      + ", ".join(f"{k} = {v:.4g} {u}" for k, (v, u) in values.items()))
    console.print(f"Wrote {out}/ (snapshots.zarr, measures.csv, {len(rows)} sections"
                  + (", .vti files" if vtk else "") + (", surface_final.png" if state.dim == 3 else "") + ")")


@sinter.command("fit-anisotropy")
@click.argument("energies", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--lattice", required=True, help="Tetragonal lattice constants, e.g. a=3.9625A,c=13.0168A.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write k0…k3 and the per-plane residuals (.csv).")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Polar plot of γ(n) and the Wulff shape in the a–c plane (.png).")
def fit_anisotropy_cmd(energies: Path, lattice: str, out: Path | None, plot: Path | None) -> None:
    """Fit γ(n) = k0 − k1 n_w² + k2 (n_u²+n_v²)² + k3 n_u² n_v² to surface energies (CSV h,k,l,energy in J/m²)."""
    import numpy as np

    from datarial.sinter.anisotropy import (
        TERMS,
        fit_anisotropy,
        gamma,
        parse_lattice,
        read_energies,
        wulff_radius,
    )

    a, c = parse_lattice(lattice)
    planes, values = read_energies(energies)
    fit = fit_anisotropy(planes, values, a, c)
    console.print(f"lattice a = {a * 1e10:.4f} Å, c = {c * 1e10:.4f} Å; {len(planes)} planes")
    console.print("  ".join(f"{name} = {v:.4f} J/m²" for name, v in zip(TERMS, fit.k, strict=True)))
    console.print(fit.table().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    console.print(f"RMS residual {fit.rms:.4f} J/m²")
    if fit.exact:
        what = f"{len(planes)} planes" + (f" ({fit.distinct} distinct in γ(n))" if fit.distinct < len(planes) else "")
        console.print(f"note: {what} for the 4 coefficients: the fit passes through the distinct ones, so the "
                      "residuals do not test the form of γ(n); a fifth distinct plane would")
    if out is not None:
        if out.suffix.lower() != ".csv":
            raise DatarialError(f"--out: {out} should end in .csv")
        table = fit.table()
        for name, v in zip(TERMS, fit.k, strict=True):
            table[f"{name} [J/m2]"] = v
        table.to_csv(out, index=False)
        console.print(f"Wrote {out}")
    if plot is not None:
        from matplotlib.figure import Figure

        ang = np.linspace(0, 2 * math.pi, 361)
        dirs = np.stack([np.cos(ang), np.zeros_like(ang), np.sin(ang)], axis=1)  # the a–c plane
        fig = Figure(figsize=(5, 5), layout="constrained")
        ax = fig.add_subplot(projection="polar")
        ax.plot(ang, gamma(dirs, fit.k), label="γ(n) [J/m²]")
        ax.plot(ang, wulff_radius(dirs, fit.k), "--", label="Wulff shape (same scale)")
        ax.set_title("a–c plane (0° = a, 90° = c)")
        ax.legend(loc="lower left", fontsize=8)
        fig.savefig(plot, dpi=120)
        console.print(f"Wrote {plot}")


@sinter.command("assimilate")
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("observations", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output folder [default: CONFIG name + '-assimilation'].")
@click.option("--method", type=click.Choice(["tpe", "bo"]), default=None, help="Minimiser [default: assimilate.method or tpe].")
@click.option("--trials", type=click.IntRange(1, 100_000), default=None, help="Evaluations [default: assimilate.trials or 100].")
@click.option("--workers", type=click.IntRange(1, 512), default=None, help="Worker processes [default: assimilate.workers or 1].")
@click.option("--storage", default=None, help="Optuna storage shared by workers (SQLite file or postgresql+psycopg://…) "
                                              "[default: OUT/study.db when workers > 1].")
@click.option("--seed", type=int, default=0, show_default=True)
def assimilate_cmd(config: Path, observations: Path, out: Path | None, method: str | None, trials: int | None,
                   workers: int | None, storage: str | None, seed: int) -> None:
    """Identify the unknown parameters of CONFIG from the OBSERVATIONS folder (4DVar-type cost).

    OBSERVATIONS holds snapshots.zarr (from 'sinter run', e.g. a twin experiment; its
    t > 0 snapshots are used) or observations.csv with columns time,file (volumes on the
    simulation grid: occupancy in [0, 1], or a mask or labels, > 0 = inside).
    CONFIG's 'assimilate' block names the unknowns:
    {M_surf: {low: 0.3, high: 30, log: true, prior: 3, prior_sd: 1}, ...}, sigma_r, method, trials, workers, storage,
    max_steps (time steps one evaluation may take; slower ones fail with J = inf), sampler (startup: trials of
    the start-up design, default 4 per unknown, at least 8; for bo also trust_region: true, a local search
    box around the best point, and model settings such as beta), observe (occupancy, the default; labels:
    the grains told apart, from the snapshots' grain maps or label volumes, 0 = pore, k = grain k of the start,
    in the csv's labels column or else its file column; both: the two misfits added, the csv with both
    columns), sigma_labels (σ of the label misfit, default 1: J = ½ × wrong voxel-grain pairs / σ²),
    polish (then at most that many evaluations refining the best point, default 0; polish_starts: that many
    distinct best points, default 1; polish_method: least-squares, Gauss–Newton on the occupancy residuals,
    nelder-mead, or auto, the first for occupancy observations) and dt (the fixed
    time step of every evaluation, default the solver's dt, so that J is smooth in the parameters; 'adaptive':
    the solver's step control, under which J jumps).
    """
    from datarial.sinter.assimilate import Problem, assimilate, evaluation_settings, sub_step_note
    from datarial.sinter.config import load_config
    from datarial.sinter.output import assimilation_figures, read_observations

    cfg = load_config(config)
    if cfg.assimilate is None:
        raise DatarialError(f"{config}: needs an 'assimilate' block naming the unknowns")
    block = cfg.assimilate
    unknowns = list(block.unknowns)
    method, trials, workers = method or block.method, trials or block.trials, workers or block.workers
    sigma_r = block.sigma_r
    obs = read_observations(observations, cfg.grid, block.observe)
    out = out or config.with_name(config.stem + "-assimilation")
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or block.storage or (str(out / "study.db") if workers > 1 else None)
    packing = cfg.packing()
    rs = cfg.pair_factors(packing)
    problem = Problem(packing, cfg.params, unknowns, obs, sigma_r, evaluation_settings(cfg.solver, cfg.params, block.dt),
                      cfg.anisotropy, None if rs is None else rs[0], max_steps=block.max_steps,
                      sigma_labels=block.sigma_labels, observe=block.observe)
    console.print(f"{len(unknowns)} unknowns ({', '.join(u.name for u in unknowns)}), {len(obs.times)} observed times, "
                  f"{method.upper()} with {trials} evaluations on {workers} worker(s)"
                  + (f", study in {storage}" if storage else ""))
    note = sub_step_note(problem.settings, cfg.params, unknowns)
    if note:
        console.print(f"[yellow]note:[/] {note}")
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("assimilating", total=trials)
        result = assimilate(problem, method, trials, workers, storage, seed=seed, options=block.sampler,
                            progress=lambda done, total: bar.update(task, completed=done, total=total),
                            polish_evaluations=block.polish, polish_starts=block.polish_starts,
                            polish_method=block.polish_method)
    result.table().to_csv(out / "history.csv", index=False)
    import pandas as pd

    pd.DataFrame([{"parameter": k, "value": v} for k, v in result.best.items()]).to_csv(out / "best.csv", index=False)
    assimilation_figures(problem, result, out)
    console.print("best: " + ", ".join(f"{k} = {v:.4g}" for k, v in result.best.items())
                  + f"; J = {result.best_cost:.4g} after {result.trials} evaluations ({result.failed} failed"
                  + (f", {result.unfinished} simulations stopped (blown up or over max_steps)" if result.unfinished else "")
                  + ")")
    console.print(f"Wrote {out}/ (history.csv, best.csv, cost_history.png, compare.png)")


def register(app: click.Group) -> None:
    app.add_command(sinter)
