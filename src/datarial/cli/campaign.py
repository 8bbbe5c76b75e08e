"""Campaign subcommands: init, import, propose, record, status, export, abandon, list, demo."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from datarial.campaign import Campaign
from datarial.cli.output import (
    check_output_path,
    conditions_text,
    console,
    fmt,
    print_batch,
    print_descriptor_check,
    print_diagnostics,
    print_status,
)
from datarial.io.tables import write_table
from datarial.optimize import ACQUISITIONS, MAX_BATCH
from datarial.space import load_space
from datarial.store import Store

db_option = click.option(
    "--db", envvar="DATARIAL_DB", show_envvar=True, default=None,
    help="Database: a SQLite file path or a URL (postgresql+psycopg://user@host/db). Default ./datarial.db.")
by_option = click.option("--by", default=None, help="Who did it (default: your login name).")
campaign_arg = click.argument("campaign")
PathType = click.Path(path_type=Path, dir_okay=False)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return os.environ.get("USER", "")


def _open(name: str, db: str | None) -> Campaign:
    return Campaign.open(Store(db), name)


@click.command("init")
@campaign_arg
@click.option("--space", "space_file", required=True, type=PathType, help="Search-space YAML file.")
@db_option
@by_option
def init(campaign: str, space_file: Path, db: str | None, by: str | None) -> None:
    """Create CAMPAIGN from a search-space YAML."""
    sp = load_space(space_file)
    store = Store(db)
    c = Campaign.create(store, sp, name=campaign, created_by=_who(by))
    console.print(f"Created campaign '{c.name}' in {store.safe_url}")
    console.print(sp.describe())


@click.command("import")
@campaign_arg
@click.argument("file", type=PathType)
@db_option
@by_option
def import_(campaign: str, file: Path, db: str | None, by: str | None) -> None:
    """Import researcher experiments from a CSV/Excel FILE (one row per measurement)."""
    c = _open(campaign, db)
    report = c.import_file(file, by=_who(by))
    for notice in report.notices:
        console.print(f"note: {notice}")
    flagged = (f"; {report.flagged} flagged (off-grid, out of range or infeasible: stored, never proposed)"
               if report.flagged else "")
    console.print(f"Imported {report.experiments} experiments ({report.measurements} measurements) "
                  f"into '{c.name}' from {report.source}{flagged}")


@click.command("propose")
@campaign_arg
@click.option("--batch", "-q", default=5, show_default=True, type=click.IntRange(1, MAX_BATCH), help="Number of proposals.")
@click.option("--acq", default=None, type=click.Choice(ACQUISITIONS, case_sensitive=False),
              help="Acquisition function (default: the campaign's setting, ucb unless changed).")
@click.option("--seed", type=int, default=None, help="Random seed (reproducible proposals).")
@click.option("--out", type=PathType, default=None, help="Write the proposals (CSV/Excel) to fill in and 'record'.")
@click.option("--beta", type=click.FloatRange(min=0), default=None, help="UCB weight (campaign default 2).")
@click.option("--xi", type=click.FloatRange(min=0), default=None, help="EI/PI exploration margin in output standard deviations.")
@click.option("--remeasure", is_flag=True, help="Allow proposing already-measured conditions.")
@db_option
@by_option
def propose(campaign: str, batch: int, acq: str, seed: int | None, out: Path | None, beta: float | None,
            xi: float | None, remeasure: bool, db: str | None, by: str | None) -> None:
    """Propose the next batch of conditions for CAMPAIGN (a new round)."""
    if out is not None:
        check_output_path(out, (".csv", ".xlsx"), "--out")
    c = _open(campaign, db)
    overrides = {k: v for k, v in {"beta": beta, "xi": xi}.items() if v is not None}
    result = c.propose(batch, acq.lower() if acq else None, seed=seed, remeasure=remeasure, by=_who(by), settings=overrides)
    print_batch(c.space, result)
    if out is not None:
        write_table(c.proposals_frame(result.proposals), out)
        console.print(f"Wrote {len(result.proposals)} proposals to {out}: fill in "
                      f"'{c.space.objective.label}' (several rows per proposal_id for replicates), then "
                      f"'datarial record {c.name} {out}'")


@click.command("record")
@campaign_arg
@click.argument("file", type=PathType)
@db_option
@by_option
def record(campaign: str, file: Path, db: str | None, by: str | None) -> None:
    """Record measured proposals from FILE (the propose --out file with results filled in)."""
    c = _open(campaign, db)
    report = c.record_file(file, by=_who(by))
    for notice in report.notices:
        console.print(f"note: {notice}")
    extra = f", {report.researcher_experiments} as researcher experiments" if report.researcher_experiments else ""
    console.print(f"Recorded {report.experiments} experiments ({report.measurements} measurements{extra}) "
                  f"into '{c.name}' from {report.source}")
    if report.skipped_rows:
        console.print(f"{len(report.skipped_rows)} rows without a result left pending "
                      f"(rows {', '.join(map(str, report.skipped_rows))})")


@click.command("status")
@campaign_arg
@db_option
def status(campaign: str, db: str | None) -> None:
    """Counts, best so far per round, pending proposals."""
    print_status(_open(campaign, db).status())


@click.command("export")
@campaign_arg
@click.argument("out", type=PathType)
@db_option
def export(campaign: str, out: Path, db: str | None) -> None:
    """Export every measurement of CAMPAIGN to OUT (.csv or .xlsx); 'import' reads it back."""
    check_output_path(out, (".csv", ".xlsx"), "OUT")
    c = _open(campaign, db)
    frame = c.experiments_frame()
    write_table(frame, out)
    console.print(f"Wrote {len(frame)} measurements of '{c.name}' to {out}")


@click.command("diagnose")
@campaign_arg
@click.option("--plot", type=PathType, default=None,
              help="Figure to write (.png, .svg or .pdf; default CAMPAIGN-diagnostics.png).")
@click.option("--out", type=PathType, default=None, help="Also write the per-condition table (.csv or .xlsx).")
@click.option("--descriptor", "descriptors", multiple=True,
              help="Add a measured descriptor (e.g. 'porosity', 'grain diameter') as a model input and compare "
                   "with the process-only model on the same experiments; repeat for several.")
@db_option
def diagnose(campaign: str, plot: Path | None, out: Path | None, descriptors: tuple[str, ...], db: str | None) -> None:
    """Leave-one-out check of CAMPAIGN's model: predicted vs measured, R², calibration of σ."""
    plot = plot or Path(f"{campaign}-diagnostics.png")
    check_output_path(plot, (".png", ".svg", ".pdf"), "--plot")
    check_output_path(out, (".csv", ".xlsx"), "--out")
    c = _open(campaign, db)
    space = c.space
    if descriptors:
        check = c.diagnose_descriptors(descriptors)
        d, space = check.with_descriptors, check.space
        print_diagnostics(space, d)
        print_descriptor_check(check)
    else:
        d = c.diagnose()
        print_diagnostics(space, d)
    from datarial.viz.diagnostics import diagnostics_mpl

    diagnostics_mpl(d, space.objective.label, log=space.objective.transform == "log").savefig(plot, dpi=150)
    console.print(f"Wrote {plot}")
    if out is not None:
        write_table(d.frame(space), out)
        console.print(f"Wrote {out}")


@click.command("abandon")
@campaign_arg
@click.argument("proposal_ids", nargs=-1, required=True, type=int)
@db_option
def abandon(campaign: str, proposal_ids: tuple[int, ...], db: str | None) -> None:
    """Mark pending proposals as abandoned (they will not be measured)."""
    c = _open(campaign, db)
    n = c.abandon(proposal_ids)
    console.print(f"Abandoned {n} proposals of '{c.name}'")


@click.command("attach")
@campaign_arg
@click.argument("experiment_id", type=int)
@click.argument("file", type=PathType)
@click.option("--size", default=None, help="Sample size for Jc, a x b x c with the field along c (e.g. 0.5x1.2x2.8mm).")
@click.option("--geometry", type=click.Choice(["rectangular", "square", "cylinder"]), default=None)
@click.option("--kind", default=None,
              help="What the file is (mh-loop, mt, image, descriptors, ...); default from the objective, or "
                   "'descriptors' for a measure,value,unit summary (micro quantify/grains --out).")
@db_option
@by_option
def attach(campaign: str, experiment_id: int, file: Path, size: str | None, geometry: str | None, kind: str | None,
           db: str | None, by: str | None) -> None:
    """Attach a raw FILE to an experiment; a derived objective is computed from it.

    A summary table (measure, value, unit) from 'micro quantify' or 'micro grains'
    becomes named descriptors of the experiment, shown in the data table and export.
    """
    c = _open(campaign, db)
    rep = c.attach(experiment_id, file, kind=kind, properties={"size": size, "geometry": geometry}, by=_who(by))
    for w in rep.warnings:
        console.print(f"warning: {w}")
    stored = "stored" if rep.stored_new_content else "already stored"
    console.print(f"Attached {rep.filename} ({rep.kind}, sha256 {rep.sha256[:12]}, {stored}) to experiment "
                  f"{rep.experiment_id} as attachment {rep.attachment_id}")
    for name, (v, unit) in rep.descriptors.items():
        console.print(f"  {name} = {fmt(v)} {unit}")
    if rep.value is not None:
        obj = c.space.objective
        console.print(f"  {obj.name} = {fmt(rep.value)} {obj.unit} ({obj.derived.describe()})")


@click.command("derive")
@campaign_arg
@db_option
def derive(campaign: str, db: str | None) -> None:
    """Recompute every derived objective value from the stored raw files."""
    c = _open(campaign, db)
    n = c.recompute_derived()
    console.print(f"Recomputed {n} derived measurements of '{c.name}'")


@click.command("list")
@db_option
def list_(db: str | None) -> None:
    """List the campaigns in the database."""
    store = Store(db)
    infos = Campaign.list(store)
    if not infos:
        console.print(f"No campaigns in {store.safe_url}")
        return
    for i in infos:
        console.print(f"{i.name}: {i.objective} ({i.goal}), {i.experiments} experiments, "
                      f"{i.measurements} measurements, {i.pending} pending")


@click.command("demo")
@click.option("--db", default="datarial-demo.db", show_default=True, help="Database for the demo (recreated).")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--workdir", default=Path("demo-out"), show_default=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the round files.")
@click.option("--serve", "serve_after", is_flag=True, help="Then serve the demo database in the browser UI.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="Port for --serve.")
def demo(db: str, rounds: int, seed: int, workdir: Path, serve_after: bool, port: int) -> None:
    """Run the MgB2 demo campaign on a synthetic Jc landscape (fresh SQLite file)."""
    from datarial.demo import MGB2_SPACE, run_demo

    result = run_demo(db, rounds=rounds, seed=seed, workdir=workdir, echo=console.print)
    space = load_space(MGB2_SPACE)
    console.print("\nBest condition per round (Jc at 4.2 K, 7 T in A/cm2):")
    for r in result:
        console.print(f"  round {r.round}: {fmt(r.best_mean)} A/cm2 at {conditions_text(space, r.best_conditions)}"
                      f"   (best so far {fmt(r.best_so_far)} A/cm2)")
    console.print(f"\nContinue with: datarial status mgb2-imd --db {db}")
    if serve_after:
        from datarial.cli.server import serve_app

        console.print("")
        serve_app(db, "127.0.0.1", port, None)
    else:
        console.print(f"or in the browser: datarial serve --db {db}  (or ./dev demo --serve)")


def register(app: click.Group) -> None:
    for command in (init, import_, propose, record, status, diagnose, export, abandon, attach, derive, list_, demo):
        app.add_command(command)
