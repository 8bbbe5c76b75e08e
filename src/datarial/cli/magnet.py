"""``datarial magnet``: Jc from M–H loops, Tc, flux creep, trapped field of disks."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd

from datarial.cli.output import check_output_path, console
from datarial.errors import DataFileError, DatarialError
from datarial.io.qd_dat import MagnetometerData, read_jc_curve, read_measurement
from datarial.io.tables import write_table
from datarial.magnet.bean import Sample, jc_from_loop
from datarial.magnet.creep import MRI_STABILITY_PPM_PER_H, fit_creep
from datarial.magnet.tc import tc_from_mt
from datarial.magnet.trapped import (
    disk_stack,
    jc_for_target,
    kim_model,
    simple_estimate,
    solve_trapped_field,
    tabulated_jc,
)
from datarial.units import parse_dimensions, parse_list, parse_quantity

FileArg = click.Path(path_type=Path, dir_okay=False)


@click.group("magnet")
def magnet() -> None:
    """Superconductor measurements: Jc(B), Tc, flux creep, trapped field."""


def _read(path: Path) -> MagnetometerData:
    data = read_measurement(path)
    for w in data.warnings:
        console.print(f"warning: {w}")
    return data


def jc_curve_table(curve) -> pd.DataFrame:
    return pd.DataFrame({"B [T]": curve.field, "Jc [A/cm2]": curve.jc_A_per_cm2,
                         "delta_M [emu/cm3]": curve.delta_m / 1e3})


@magnet.command("jc")
@click.argument("loop", type=FileArg)
@click.option("--size", required=True, help="Sample size a x b x c with the field along c, e.g. 0.5x1.2x2.8mm "
                                             "(cylinder: diameter x height).")
@click.option("--geometry", type=click.Choice(["rectangular", "square", "cylinder"]), default="rectangular",
              show_default=True)
@click.option("--field", "fields", multiple=True, help="Field(s) to report Jc at, e.g. --field 3T or 1T,3T,5T.")
@click.option("--out", type=FileArg, default=None, help="Write the Jc(B) curve (CSV/Excel).")
@click.option("--plot", type=FileArg, default=None, help="Write the loop and Jc(B) figure (PNG/SVG).")
def jc(loop: Path, size: str, geometry: str, fields: tuple[str, ...], out: Path | None, plot: Path | None) -> None:
    """Jc(B) from the M–H loop in LOOP by the extended Bean model."""
    check_output_path(out, (".csv", ".xlsx"), "--out")
    check_output_path(plot, (".png", ".svg", ".pdf"), "--plot")
    dims = parse_dimensions(size)
    sample = Sample.from_dims(dims, geometry)  # type: ignore[arg-type]
    data = _read(loop)
    curve = jc_from_loop(data.field(), data.moment(), sample)
    at = [b for f in fields for b in parse_list(f, "magnetic field", what="--field")]
    console.print(f"{loop}: {sample.describe()}, volume {sample.volume * 1e6:.4g} cm3; "
                  f"Jc(B) from {curve.field.min():.3g} to {curve.field.max():.3g} T"
                  + ("; virgin branch ignored" if curve.virgin_ignored else ""))
    marks = {}
    for b in at:
        value = float(curve.at(b)[0])
        if not np.isfinite(value):
            raise DatarialError(f"--field {b:g} T lies outside the loop's field range "
                                f"(0 to {curve.field.max():.3g} T)")
        marks[b] = value
        console.print(f"  Jc({b:g} T) = {value / 1e4:.4g} A/cm2")
    if out is not None:
        write_table(jc_curve_table(curve), out)
        console.print(f"Wrote Jc(B) to {out}")
    if plot is not None:
        from datarial.viz.magnet import plot_jc

        plot_jc(curve, plot, marks)
        console.print(f"Wrote {plot}")


@magnet.command("tc")
@click.argument("mt", type=FileArg)
@click.option("--plot", type=FileArg, default=None, help="Write the transition figure (PNG/SVG).")
def tc(mt: Path, plot: Path | None) -> None:
    """Tc (onset, 90 %, 10 %) and transition width from the M(T) curve in MT."""
    check_output_path(plot, (".png", ".svg", ".pdf"), "--plot")
    data = _read(mt)
    res = tc_from_mt(data.temperature(), data.moment())
    console.print(f"{mt}: Tc onset {res.t_onset:.2f} K, Tc90 {res.t_c90:.2f} K (90 % of full shielding), "
                  f"Tc10 {res.t_c10:.2f} K, width (10-90 %) {res.width:.2f} K")
    if plot is not None:
        from datarial.viz.magnet import plot_tc

        plot_tc(res, plot)
        console.print(f"Wrote {plot}")


@magnet.command("creep")
@click.argument("series", type=FileArg)
@click.option("--column", default=None, help="Column with the decaying quantity (default: field, else moment).")
@click.option("--at", "at_", default=None, help="Time for the decay rate, e.g. 3d, 12h (default: last point).")
@click.option("--plot", type=FileArg, default=None, help="Write the fit figure (PNG/SVG).")
def creep(series: Path, column: str | None, at_: str | None, plot: Path | None) -> None:
    """Fit B(t) = B0 - b ln t to the time series in SERIES; decay rate in ppm/h."""
    check_output_path(plot, (".png", ".svg", ".pdf"), "--plot")
    data = _read(series)
    t = data.time()
    if column is not None:
        if column not in data.columns:
            raise DataFileError(f"{series}: no column '{column}' (columns: {', '.join(data.columns)})")
        y, unit = data.columns[column], data.units.get(column, "")
    else:
        try:
            y, unit = data.field(), "T"
        except DataFileError:
            y, unit = data.moment(), "emu"
    res = fit_creep(t, y)
    when = parse_quantity(at_, "time", what="--at") if at_ else float(t.max())
    rate = res.decay_ppm_per_hour(when)
    reach = res.time_to_reach()
    console.print(f"{series}: B = {res.b0:.6g} - {res.b:.4g} ln(t/s) [{unit}], R2 = {res.r_squared:.5f}")
    console.print(f"  normalised: B/B(t0) = {res.a:.6f} - S ln t with S = {res.s:.4e} (t0 = {res.t0:g} s)")
    verdict = "meets" if rate <= MRI_STABILITY_PPM_PER_H else "exceeds"
    console.print(f"  decay rate at t = {when / 3600:.4g} h: {rate:.4g} ppm/h ({verdict} the "
                  f"{MRI_STABILITY_PPM_PER_H} ppm/h MRI requirement)")
    console.print("  below 0.1 ppm/h after " + (f"{reach / 86400:.4g} days" if np.isfinite(reach) else "never (the fit decays to zero first)"))
    if plot is not None:
        from datarial.viz.magnet import plot_creep

        plot_creep(res, plot, unit, at=when)
        console.print(f"Wrote {plot}")



@magnet.command("trapped")
@click.option("--radius", required=True, help="Disk radius, e.g. 15mm.")
@click.option("--thickness", required=True, help="Disk thickness, e.g. 6mm.")
@click.option("--disks", "n_disks", default=1, show_default=True, type=click.IntRange(1, 50))
@click.option("--gap", default="0mm", show_default=True, help="Spacer between neighbouring disks.")
@click.option("--jc", "jc_text", default=None, help="Uniform Jc, e.g. 3e4A/cm2 (with --kim-b0: Jc at zero field).")
@click.option("--kim-b0", default=None, help="Kim model Jc(B) = Jc/(1 + |B|/B0), e.g. 1T; solved self-consistently.")
@click.option("--jc-curve", type=FileArg, default=None, help="Measured Jc(B) table (B [T], Jc [A/cm2]).")
@click.option("--target", default=None, help="Inverse use: the Jc needed to trap this field at the reported point.")
@click.option("--out", type=FileArg, default=None, help="Write the on-axis profile (CSV/Excel).")
@click.option("--plot", type=FileArg, default=None, help="Write the profile and current figure (PNG/SVG).")
def trapped(radius: str, thickness: str, n_disks: int, gap: str, jc_text: str | None, kim_b0: str | None,
            jc_curve: Path | None, target: str | None, out: Path | None, plot: Path | None) -> None:
    """Trapped field on the axis of fully magnetised disks (exact Biot–Savart)."""
    check_output_path(out, (".csv", ".xlsx"), "--out")
    check_output_path(plot, (".png", ".svg", ".pdf"), "--plot")
    if (jc_text is None) == (jc_curve is None):
        raise DatarialError("give exactly one of --jc or --jc-curve")
    if kim_b0 is not None and jc_text is None:
        raise DatarialError("--kim-b0 goes with --jc (the zero-field Jc)")
    R = parse_quantity(radius, "length", what="--radius")
    t = parse_quantity(thickness, "length", what="--thickness")
    g = parse_quantity(gap, "length", what="--gap")
    disks = disk_stack(R, t, n_disks, g)
    if jc_curve is not None:
        jc_model = tabulated_jc(*read_jc_curve(jc_curve))
        label = f"Jc(B) from {jc_curve}"
    else:
        jc0 = parse_quantity(jc_text, "current density", what="--jc")
        if kim_b0 is not None:
            b0 = parse_quantity(kim_b0, "magnetic field", what="--kim-b0")
            jc_model = kim_model(jc0, b0)
            label = f"Kim model Jc0 = {jc0 / 1e4:.4g} A/cm2, B0 = {b0:g} T"
        else:
            jc_model = jc0
            label = f"uniform Jc = {jc0 / 1e4:.4g} A/cm2"
    sol = solve_trapped_field(disks, jc_model)
    points = sol.key_points()
    console.print(f"{n_disks} disk(s) R = {R * 1e3:g} mm, t = {t * 1e3:g} mm"
                  + (f", gap {g * 1e3:g} mm" if n_disks > 1 else "") + f"; {label}"
                  + (f"; self-consistent in {sol.iterations} iterations" if sol.iterations else ""))
    for name, z in points.items():
        console.print(f"  B_z at the {name} (z = {z * 1e3:.3g} mm): {float(sol.at(z)[0]):.4f} T")
    jc_ref = float(jc_model(np.array([0.0]))[0]) if callable(jc_model) else float(jc_model)
    est = simple_estimate(jc_ref, R)
    top = float(sol.at(points["top surface"])[0])
    console.print(f"  simple estimate mu0*Jc*r = {est:.4f} T (long cylinder, A = 1); "
                  f"this geometry: A = {top / est:.4f} at the top surface")
    if target is not None:
        b_t = parse_quantity(target, "magnetic field", what="--target")
        where = "gap centre" if "gap centre" in points else "top surface"
        need = jc_for_target(disks, b_t, points[where], jc_model if callable(jc_model) else None)
        console.print(f"  to trap {b_t:g} T at the {where}: Jc{'(B=0)' if callable(jc_model) else ''} = "
                      f"{need / 1e4:.4g} A/cm2")
    if out is not None:
        write_table(pd.DataFrame({"z [mm]": sol.z * 1e3, "Bz [T]": sol.bz}), out)
        console.print(f"Wrote the on-axis profile to {out}")
    if plot is not None:
        from datarial.viz.magnet import plot_trapped

        plot_trapped(sol, plot)
        console.print(f"Wrote {plot}")


def register(app: click.Group) -> None:
    app.add_command(magnet)
