"""``datarial micro``: segmentation, quantification and grain analysis of microstructure data."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from datarial.cli.output import check_output_path, console
from datarial.errors import DatarialError, NotFoundError

FileArg = click.Path(path_type=Path, dir_okay=False)


@click.group("micro")
def micro() -> None:
    """Microstructure: U-Net segmentation of FIB-SEM volumes, 3D quantification, grain maps."""


def _ints(text: str | None, what: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"whole numbers separated by commas, got {text!r}", param_hint=what) from None


def _progress_bar(label: str):
    """A rich progress bar and a ``progress(done, total)`` callback that drives it."""
    from rich.progress import Progress

    bar = Progress(transient=True, console=console)
    task = bar.add_task(label, total=None)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


@micro.command("train")
@click.option("--images", required=True, type=click.Path(path_type=Path),
              help="Greyscale volume: TIFF stack, multi-page TIFF, slice folder, .npy, .zarr or .h5.")
@click.option("--labels", required=True, type=click.Path(path_type=Path),
              help="Label volume of the same shape: class index per voxel, the --ignore value where unlabelled.")
@click.option("--dim", type=click.Choice(["2d", "3d"]), default="2d", show_default=True,
              help="2d: slice-wise model; 3d: patch model.")
@click.option("--classes", default="pore,phase", show_default=True,
              help="Class names in label order (0, 1, …), e.g. pore,phase,impurity.")
@click.option("--steps", type=click.IntRange(1, 1_000_000), default=400, show_default=True, help="Training steps.")
@click.option("--batch", type=click.IntRange(1, 4096), default=None, help="Patches per step [default: 16 (2d), 4 (3d)].")
@click.option("--patch", default=None, help="Window size in pixels, multiples of 8 [default: 64,64 (2d); 32,32,32 (3d)].")
@click.option("--holdout", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Share of the labelled slices (the last ones along z) kept out of training for scoring.")
@click.option("--ignore", type=click.IntRange(0, 65535), default=255, show_default=True, help="Label value of unlabelled voxels.")
@click.option("--augment", type=click.FloatRange(0, 5), default=1.0, show_default=True,
              help="Strength of the FIB-SEM augmentation (noise, blur, curtaining, drift, misalignment); 0 = off.")
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), default=3e-3, show_default=True, help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--dataset", default=None, help="Array inside a .zarr group or .h5 file (images and labels).")
@click.option("--out", type=FileArg, required=True, help="Trained model (.pt), saved with its settings.")
@click.option("--report", type=FileArg, default=None, help="Held-out scores table (.csv or .xlsx).")
@click.option("--plots", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the loss curve and a held-out slice comparison.")
def train_cmd(images: Path, labels: Path, dim: str, classes: str, steps: int, batch: int | None, patch: str | None,
              holdout: float, ignore: int, augment: float, lr: float, seed: int, device: str, dataset: str | None,
              out: Path, report: Path | None, plots: Path | None) -> None:
    """Train a U-Net (MONAI) on a few labelled slices or sub-volumes; score it against Otsu and Sauvola.

    The labelled slices at the end of the stack (--holdout) are not trained on;
    IoU and Dice per class are computed there for the U-Net and both thresholds.
    """
    from datarial.io.tables import write_table
    from datarial.micro.io import read_volume
    from datarial.micro.segment import train

    check_output_path(out, (".pt",), "--out")
    check_output_path(report, (".csv", ".xlsx"), "--report")
    names = tuple(c.strip() for c in classes.split(",") if c.strip())
    if len(set(names)) != len(names):
        raise click.BadParameter(f"class names repeat: {classes!r}", param_hint="--classes")
    img = read_volume(images, dataset=dataset).data
    lab = read_volume(labels, dataset=dataset).data
    d = int(dim[0])
    bar, progress = _progress_bar("training")
    with bar:
        seg, rep = train(img, lab, names, dim=d, steps=steps, batch=batch or (16 if d == 2 else 4),
                         patch=_ints(patch, "--patch"), lr=lr, holdout=holdout, ignore=ignore, augment=augment,
                         seed=seed, device=device, progress=progress)
    seg.save(out)
    console.print(f"Trained {steps} steps in {rep.seconds:.1f} s; final loss {rep.losses[-1]:.4f}")
    if rep.scores:
        z0, z1 = rep.heldout_slices
        frame = rep.frame()
        console.print(f"Held-out slices z = {z0}…{z1 - 1} (IoU and Dice, 1 = perfect):")
        console.print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if report is not None:
            write_table(frame, report)
            console.print(f"Wrote {report}")
    else:
        console.print("No held-out slices (--holdout 0): no scores.")
    console.print(f"Wrote {out}")
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        for path in _train_plots(rep, seg, img, lab, plots, out.stem, device):
            console.print(f"Wrote {path}")


def _train_plots(rep, seg, img: np.ndarray, lab: np.ndarray, folder: Path, stem: str, device: str) -> list[Path]:
    from matplotlib.figure import Figure

    paths = []
    fig = Figure(figsize=(5, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(1, len(rep.losses) + 1), rep.losses, lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (cross-entropy + Dice) [-]")
    path = folder / f"{stem}-loss.png"
    fig.savefig(path, dpi=130)
    paths.append(path)
    if rep.heldout_slices:
        k = (rep.heldout_slices[0] + rep.heldout_slices[1]) // 2
        pred = next(seg.segment(img[k:k + 1] if seg.settings.dim == 2 else img, device=device,
                                chunk=1 if seg.settings.dim == 2 else len(img)))
        pred = pred[0] if seg.settings.dim == 2 else pred[k]
        fig = Figure(figsize=(10, 3.6), layout="constrained")
        axes = fig.subplots(1, 3)
        n = len(seg.settings.classes)
        truth = np.where(lab[k] == seg.settings.ignore, np.nan, lab[k])
        for ax, data, title, cmap in ((axes[0], img[k], f"image, z = {k}", "gray"),
                                      (axes[1], truth, "labels", "viridis"), (axes[2], pred, "U-Net", "viridis")):
            ax.imshow(data, cmap=cmap, **({} if cmap == "gray" else {"vmin": 0, "vmax": n - 1}))
            ax.set_title(title)
            ax.set_axis_off()
        path = folder / f"{stem}-heldout.png"
        fig.savefig(path, dpi=130)
        paths.append(path)
    return paths


@micro.command("segment")
@click.argument("volume", type=click.Path(path_type=Path))
@click.option("--model", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Model from 'micro train'.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Label volume (.tif multi-page, .zarr or .npy), written slab by slab.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--overlap", type=click.FloatRange(0, 0.95), default=0.5, show_default=True,
              help="Overlap of neighbouring windows (Gaussian blend).")
@click.option("--batch", type=click.IntRange(1, 4096), default=8, show_default=True, help="Windows per forward pass.")
@click.option("--chunk", type=click.IntRange(1, 100_000), default=32, show_default=True,
              help="Slices read, segmented and written at a time (bounds the memory).")
@click.option("--dataset", default=None, help="Array inside a .zarr group or .h5 file.")
@click.option("--voxel-size", default=None, help="Stored in the TIFF metadata: one length or x,y,z (e.g. 20nm,20nm,40nm).")
def segment_cmd(volume: Path, model: Path, out: Path, device: str, overlap: float, batch: int, chunk: int,
                dataset: str | None, voxel_size: str | None) -> None:
    """Segment VOLUME with a trained U-Net; the output holds class indices (0 = first class of --classes)."""
    from datarial.micro.io import LazyVolume, parse_voxel_size, write_volume_slabs
    from datarial.micro.segment import Segmenter

    check_output_path(out, (".tif", ".tiff", ".zarr", ".npy"), "--out")
    vox = parse_voxel_size(voxel_size) if voxel_size else None
    seg = Segmenter.load(model)
    with LazyVolume(volume, dataset) as vol:
        bar, progress = _progress_bar("segmenting")
        with bar:
            write_volume_slabs(out, seg.segment(vol, device=device, overlap=overlap, batch=batch, chunk=chunk,
                                                progress=progress), vol.shape, np.uint8, vox, chunk_z=chunk)
    counts = _class_shares(out, len(seg.settings.classes), chunk)
    console.print(f"Wrote {out}: {vol.shape[0]}×{vol.shape[1]}×{vol.shape[2]} voxels (z×y×x)")
    for name, share in zip(seg.settings.classes, counts, strict=True):
        console.print(f"  {name}: {100 * share:.2f} % of voxels")


def _class_shares(path: Path, n: int, chunk: int) -> np.ndarray:
    from datarial.micro.io import LazyVolume

    counts = np.zeros(n, dtype=np.int64)
    with LazyVolume(path) as lab:
        for z in range(0, lab.shape[0], chunk):
            counts += np.bincount(lab[z:z + chunk].ravel(), minlength=n)[:n]
    return counts / max(counts.sum(), 1)


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
    .npy, .zarr, .h5) or one 2D section (areas, discs and perimeters then);
    0 = pore and 1 = superconducting phase unless told otherwise.
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
    flat = q.thickness.shape[0] == 1  # a 2D section
    ax1.set_xlabel(f"local thickness of the phase ({'disc' if flat else 'sphere'} diameter) [µm]")
    ax1.set_ylabel(f"share of phase {'area' if flat else 'volume'} [%]")
    if q.pore_diameters is not None and len(q.pore_diameters):
        ax2.hist(q.pore_diameters, bins=30, color="tab:orange")
    ax2.set_xlabel(f"pore equivalent-{'circle' if flat else 'sphere'} diameter [µm]")
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


def _angle(text: str | None, what: str) -> float | None:
    """'9deg', '9°', '9' (degrees) or '0.15rad' → degrees."""
    if text is None:
        return None
    t = text.strip().lower().replace("°", "deg")
    try:
        if t.endswith("rad"):
            return float(np.rad2deg(float(t[:-3])))
        return float(t[:-3] if t.endswith("deg") else t)
    except ValueError:
        raise click.BadParameter(f"an angle such as 9deg or 0.15rad, got {text!r}", param_hint=what) from None


@micro.command("grains")
@click.argument("orientation_map", metavar="MAP", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--threshold", default="9deg", show_default=True,
              help="Misorientation that separates grains (e.g. 2deg to keep low-angle boundaries inside the statistics).")
@click.option("--symmetry", default=None, help="Point group, e.g. 4/mmm for Ba122 [default: from the file].")
@click.option("--phase", default=None, help="Phase name or id in the file [default: the most indexed phase].")
@click.option("--min-size", type=click.IntRange(1), default=5, show_default=True, help="Smallest grain kept, pixels.")
@click.option("--critical-angle", default="9deg", show_default=True,
              help="θc: boundaries below it count as 'good' for intergrain current.")
@click.option("--decay", default=None, help="θ0 of the exponential Jc decay beyond θc (e.g. 4deg; from 'micro gb-fit').")
@click.option("--out", type=FileArg, default=None, help="Summary (.csv or .xlsx): one row per measure, with units.")
@click.option("--grains-out", type=FileArg, default=None, help="Per-grain table (.csv or .xlsx).")
@click.option("--boundaries-out", type=FileArg, default=None, help="Per-boundary table (.csv or .xlsx).")
@click.option("--plots", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the IPF map, grain map and the size and misorientation distributions.")
def grains_cmd(orientation_map: Path, threshold: str, symmetry: str | None, phase: str | None, min_size: int,
               critical_angle: str, decay: str | None, out: Path | None, grains_out: Path | None,
               boundaries_out: Path | None, plots: Path | None) -> None:
    """Grains, grain sizes and grain-boundary misorientations of an orientation MAP (.ang, .ctf, h5ebsd).

    Pixels join a grain when their misorientation (symmetry-reduced) is below
    --threshold.  The misorientation distribution is compared with that of random
    orientations of the same symmetry (Mackenzie-type).
    """
    from datarial.io.tables import write_table
    from datarial.micro.grains import read_orientation_map, reconstruct, summarize

    for path, opt in ((out, "--out"), (grains_out, "--grains-out"), (boundaries_out, "--boundaries-out")):
        check_output_path(path, (".csv", ".xlsx"), opt)
    thr, theta_c, theta_0 = _angle(threshold, "--threshold"), _angle(critical_angle, "--critical-angle"), _angle(decay, "--decay")
    if theta_0 is not None and theta_0 <= 0:
        raise click.BadParameter("must be positive", param_hint="--decay")
    omap = read_orientation_map(orientation_map, symmetry, phase)
    gm = reconstruct(omap, thr, min_size)
    summary = summarize(gm, theta_c, theta_0).frame()
    ny, nx = omap.shape
    console.print(f"{orientation_map.name}: {ny}×{nx} pixels, step {omap.step[1] * 1e6:.4g}×{omap.step[0] * 1e6:.4g} µm, "
                  f"phase {omap.phase} ({omap.symmetry}), {100 * omap.mask.mean():.1f} % indexed")
    console.print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for frame, path in ((summary, out), (gm.grains, grains_out), (gm.boundaries, boundaries_out)):
        if path is not None:
            write_table(frame, path)
            console.print(f"Wrote {path}")
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        for path in _grain_plots(omap, gm, theta_c, plots, orientation_map.stem):
            console.print(f"Wrote {path}")


def _grain_plots(omap, gm, theta_c: float, folder: Path, stem: str) -> list[Path]:
    from matplotlib.figure import Figure

    from datarial.micro.grains import ipf_colors, random_misorientation_angles

    dy, dx = (s * 1e6 for s in omap.step)
    ny, nx = omap.shape
    extent = (0, nx * dx, ny * dy, 0)
    paths = []
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.imshow(ipf_colors(omap, "z"), extent=extent, interpolation="nearest")
    ax1.set_title(f"IPF-Z colours ({omap.symmetry})")
    ids = np.where(gm.grain_id >= 0, gm.grain_id, np.nan)
    rng = np.random.default_rng(0)
    perm = rng.permutation(int(np.nanmax(ids)) + 1) if np.isfinite(ids).any() else np.zeros(1)
    ax2.imshow(np.where(np.isnan(ids), np.nan, perm[np.nan_to_num(ids).astype(int)]), cmap="tab20",
               extent=extent, interpolation="nearest")
    segs_lo, segs_hi = _boundary_segments(omap, gm, theta_c)
    from matplotlib.collections import LineCollection

    ax2.add_collection(LineCollection(segs_hi, colors="k", linewidths=0.7))
    ax2.add_collection(LineCollection(segs_lo, colors="tab:red", linewidths=1.2))
    ax2.set_title(f"{len(gm.grains)} grains; red: boundaries below {theta_c:g}°")
    for ax in (ax1, ax2):
        ax.set_xlabel("x [µm]")
        ax.set_ylabel("y [µm]")
    path = folder / f"{stem}-maps.png"
    fig.savefig(path, dpi=130)
    paths.append(path)

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    if len(gm.grains):
        ax1.hist(gm.grains["ecd_um"], bins=min(30, max(5, len(gm.grains) // 3)), color="tab:blue")
    ax1.set_xlabel("grain diameter (equivalent circle) [µm]")
    ax1.set_ylabel("grains [count]")
    rand = random_misorientation_angles(omap.symmetry, 100_000)
    hi = float(np.ceil(rand.max()))
    bins = np.linspace(0, hi, 50)
    if len(gm.edge_angles):
        ax2.hist(gm.edge_angles, bins=bins, weights=gm.edge_lengths / gm.edge_lengths.sum() / np.diff(bins)[0],
                 color="tab:orange", alpha=0.8, label="this map (by boundary length)")
    dens, _ = np.histogram(rand, bins=bins, density=True)
    ax2.step(bins[:-1], dens, where="post", color="k", label=f"random orientations ({omap.symmetry})")
    ax2.axvline(theta_c, color="tab:red", ls="--", lw=1, label=f"θc = {theta_c:g}°")
    ax2.set_xlabel("misorientation angle [°]")
    ax2.set_ylabel("density [1/°]")
    ax2.legend(fontsize=8)
    path = folder / f"{stem}-distributions.png"
    fig.savefig(path, dpi=130)
    paths.append(path)
    return paths


def _boundary_segments(omap, gm, theta_c: float):
    """Line segments (µm) of the boundary pixel edges, split by misorientation below/above θc."""
    dy, dx = (s * 1e6 for s in omap.step)
    g = gm.grain_id
    lo, hi = [], []
    right, down = gm.neighbour_angles
    a, b = g[:, :-1], g[:, 1:]
    for y, x in zip(*np.nonzero((a != b) & (a >= 0) & (b >= 0)), strict=True):
        (lo if right[y, x] < theta_c else hi).append([((x + 1) * dx, y * dy), ((x + 1) * dx, (y + 1) * dy)])
    a, b = g[:-1], g[1:]
    for y, x in zip(*np.nonzero((a != b) & (a >= 0) & (b >= 0)), strict=True):
        (lo if down[y, x] < theta_c else hi).append([(x * dx, (y + 1) * dy), ((x + 1) * dx, (y + 1) * dy)])
    return lo, hi


@micro.command("gb-fit")
@click.argument("data", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Fit plot (.png or .svg).")
def gb_fit_cmd(data: Path, plot: Path | None) -> None:
    """Fit Jc,inter/Jc,intra = 1 up to θc and exp(-(θ-θc)/θ0) beyond to bicrystal DATA.

    DATA: CSV/Excel with columns 'angle' (degrees) and 'jc_ratio' (intergrain over intragrain Jc).
    """
    from datarial.io.tables import read_table
    from datarial.micro.grains import fit_gb_transport, gb_transport

    check_output_path(plot, (".png", ".svg"), "--plot")
    table = read_table(data)
    cols = {h.strip().lower(): h for h in table.header}
    missing = [c for c in ("angle", "jc_ratio") if c not in cols]
    if missing:
        raise DatarialError(f"{table.source}: no column {', '.join(repr(m) for m in missing)} "
                            f"(found {', '.join(table.header)})")
    values: dict[str, np.ndarray] = {}
    for name in ("angle", "jc_ratio"):
        cells = table.column(cols[name])
        out = []
        for i, cell in enumerate(cells):
            try:
                out.append(float(cell))
            except ValueError:
                raise DatarialError(f"{table.where(i, cols[name])}: not a number ({cell!r})") from None
        values[name] = np.array(out)
    fit = fit_gb_transport(values["angle"], values["jc_ratio"])
    console.print(f"θc = {fit.theta_c:.2f}°, θ0 = {fit.theta_0:.2f}° (rms residual {fit.rmse:.3f} decades, {fit.n} points)")
    console.print(f"use: datarial micro grains MAP --critical-angle {fit.theta_c:.2f}deg --decay {fit.theta_0:.2f}deg")
    if plot is not None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3.6), layout="constrained")
        ax = fig.subplots()
        ax.semilogy(values["angle"], values["jc_ratio"], "o", label="data")
        t = np.linspace(0, values["angle"].max() * 1.05, 300)
        ax.semilogy(t, gb_transport(t, fit.theta_c, fit.theta_0), "-",
                    label=f"θc {fit.theta_c:.1f}°, θ0 {fit.theta_0:.1f}°")
        ax.set_xlabel("misorientation angle [°]")
        ax.set_ylabel("Jc,inter / Jc,intra [-]")
        ax.legend()
        fig.savefig(plot, dpi=130)
        console.print(f"Wrote {plot}")


@micro.command("correlate")
@click.argument("campaign")
@click.option("--descriptor", "descriptor", required=True,
              help="Descriptor name (or a unique part of it), e.g. 'mean grain diameter'.")
@click.option("--inverse/--direct", default=True, show_default=True,
              help="Plot against 1/descriptor (Jc vs inverse grain size) or the descriptor itself.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Figure (.png or .svg).")
@click.option("--db", envvar="DATARIAL_DB", default=None,
              help="Database: a SQLite file path or a URL. Default ./datarial.db.")
def correlate_cmd(campaign: str, descriptor: str, inverse: bool, plot: Path | None, db: str | None) -> None:
    """The objective (e.g. Jc) of CAMPAIGN's experiments against a microstructure descriptor.

    Descriptors come from summaries attached with 'datarial attach' (micro quantify/grains --out).
    Prints the pairs, Pearson's r and a straight-line fit; --plot draws them.
    """
    from datarial.cli.campaign import _open

    check_output_path(plot, (".png", ".svg"), "--plot")
    c = _open(campaign, db)
    try:
        cor = c.correlate_descriptor(descriptor, inverse)
    except NotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="--descriptor") from None
    obj = c.space.objective
    console.print(f"{'experiment':>10}  {cor.name} [{cor.unit}]  {'1/value' if inverse else ''}  {obj.label} (mean ± sd)")
    for eid, v, xv, m, sd in zip(cor.experiment_ids, cor.value, cor.x, cor.mean, cor.sd, strict=True):
        console.print(f"{eid:>10}  {v:.4g}  {xv:.4g}  {m:.4g} ± {sd:.2g}")
    console.print(f"Pearson r = {cor.r:.3f} over {len(cor.x)} experiments; fit {obj.name} = {cor.intercept:.4g} + "
                  f"{cor.slope:.4g} × x (x = {cor.xlabel})")
    if plot is not None:
        from datarial.viz.descriptors import correlation_mpl

        correlation_mpl(cor, obj.label).savefig(plot, dpi=130)
        console.print(f"Wrote {plot}")


def register(app: click.Group) -> None:
    app.add_command(micro)

