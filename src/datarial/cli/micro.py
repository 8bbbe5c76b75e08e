"""``datarial micro``: microstructure volumes (quantification; segmentation and grains to come)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from datarial.cli.output import check_output_path, console

FileArg = click.Path(path_type=Path, dir_okay=False)


@click.group("micro")
def micro() -> None:
    """Microstructure: 3D quantification of labelled FIB-SEM volumes."""


@micro.command("quantify")
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--voxel-size", required=True,
              help="Voxel size: one length (isotropic, e.g. 20nm) or x,y,z (e.g. 20nm,20nm,40nm).")
@click.option("--phase", type=int, default=1, show_default=True, help="Label of the superconducting phase.")
@click.option("--pore", type=int, default=0, show_default=True, help="Label of the pores.")
@click.option("--bins", type=click.IntRange(2, 400), default=25, show_default=True,
              help="Sphere-radius bins of the local thickness.")
@click.option("--dataset", default=None, help="Array inside a .zarr group or .h5 file.")
@click.option("--out", type=FileArg, default=None, help="Summary table (.csv or .xlsx): one row per measure, with units.")
@click.option("--plots", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the distribution plots (created if missing).")
def quantify_cmd(labels: Path, voxel_size: str, phase: int, pore: int, bins: int, dataset: str | None,
                 out: Path | None, plots: Path | None) -> None:
    """Volume fractions, open/closed porosity, local thickness, pore surface and void length of LABELS.

    LABELS: a labelled volume (TIFF stack or multi-page TIFF, folder of slices,
    .npy, .zarr, .h5); 0 = pore and 1 = superconducting phase unless told otherwise.
    """
    from rich.progress import Progress

    from datarial.io.tables import write_table
    from datarial.micro.io import parse_voxel_size, read_volume
    from datarial.micro.quantify import quantify

    check_output_path(out, (".csv", ".xlsx"), "--out")
    vox = parse_voxel_size(voxel_size)
    vol = read_volume(labels, vox, dataset=dataset)
    with Progress(transient=True, console=console) as bar:
        task = bar.add_task("local thickness", total=bins)
        q = quantify(vol.data, vox, phase=phase, pore=pore, bins=bins,
                     progress=lambda done, total: bar.update(task, completed=done, total=total))
    frame = q.frame()
    console.print(frame.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    if out is not None:
        write_table(frame, out)
        console.print(f"Wrote {out}")
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        for path in _plots(q, vol.data == phase, plots, labels.stem):
            console.print(f"Wrote {path}")


def _plots(q, phase_mask: np.ndarray, folder: Path, stem: str) -> list[Path]:
    from matplotlib.figure import Figure

    paths = []
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    vals = q.thickness[phase_mask]
    if len(vals):
        ax1.hist(vals, bins=40, weights=np.full(len(vals), 100.0 / len(vals)), color="tab:blue")
    ax1.set_xlabel("local thickness of the phase (sphere diameter) [µm]")
    ax1.set_ylabel("share of phase volume [%]")
    if q.pore_diameters is not None and len(q.pore_diameters):
        ax2.hist(q.pore_diameters, bins=30, color="tab:orange")
    ax2.set_xlabel("pore equivalent-sphere diameter [µm]")
    ax2.set_ylabel("pores [count]")
    path = folder / f"{stem}-distributions.png"
    fig.savefig(path, dpi=130)
    paths.append(path)
    fig = Figure(figsize=(5, 4.4), layout="constrained")
    ax = fig.subplots()
    k = q.thickness.shape[0] // 2
    im = ax.imshow(np.where(phase_mask[k], q.thickness[k], np.nan), cmap="viridis")
    fig.colorbar(im, ax=ax, label="local thickness [µm]")
    ax.set_title(f"middle slice (z = {k})")
    ax.set_xlabel("x [voxels]")
    ax.set_ylabel("y [voxels]")
    path = folder / f"{stem}-thickness-slice.png"
    fig.savefig(path, dpi=130)
    paths.append(path)
    return paths


def register(app: click.Group) -> None:
    app.add_command(micro)

