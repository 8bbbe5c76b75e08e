"""Writing a sintering run: Zarr snapshots, VTK image files, measures table, PNG cross-sections and renders."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import numpy as np

from datarial.micro import need
from datarial.sinter.solver import Measures, State


class SnapshotWriter:
    """Appends ρ (float32) and the grain map (int32, −1 = pore) of each snapshot to ``snapshots.zarr``.

    Arrays ``rho`` and ``grains`` have the snapshot index first; ``time`` holds
    the reduced times (attribute ``time_unit_s`` converts them to seconds).
    """

    def __init__(self, folder: Path, shape: tuple[int, ...], attrs: dict) -> None:
        zarr = need("zarr", extra="sinter")
        self.root = zarr.open_group(str(folder / "snapshots.zarr"), mode="w")
        self.root.attrs.update({k: v for k, v in attrs.items() if v is not None})
        chunks = (1, *shape)
        self.rho = self.root.create_array("rho", shape=(0, *shape), chunks=chunks, dtype="float32")
        self.grains = self.root.create_array("grains", shape=(0, *shape), chunks=chunks, dtype="int32")
        self.time = self.root.create_array("time", shape=(0,), chunks=(1024,), dtype="float64")
        self.n = 0

    def add(self, state: State) -> int:
        self.rho.resize((self.n + 1, *state.shape))
        self.grains.resize((self.n + 1, *state.shape))
        self.time.resize((self.n + 1,))
        self.rho[self.n] = state.rho.detach().cpu().numpy().astype(np.float32)
        self.grains[self.n] = state.grain_map().astype(np.int32)
        self.time[self.n] = state.time
        self.n += 1
        return self.n - 1


def write_vti(path: Path, arrays: dict[str, np.ndarray], spacing: float = 1.0) -> None:
    """VTK XML ImageData (.vti, binary base64) that ParaView and pyvista read; arrays (z, y, x) or (y, x)."""
    first = next(iter(arrays.values()))
    shape = first.shape if first.ndim == 3 else (1, *first.shape)
    nz, ny, nx = shape
    parts = []
    for name, a in arrays.items():
        a = np.ascontiguousarray(a.reshape(shape))
        kind = {"f": "Float32", "i": "Int32", "u": "Int32"}[a.dtype.kind]
        data = a.astype(np.float32 if kind == "Float32" else np.int32).tobytes()  # x fastest: VTK's order
        blob = base64.b64encode(struct.pack("<I", len(data)) + data).decode()
        parts.append(f'<DataArray type="{kind}" Name="{name}" format="binary">{blob}</DataArray>')
    extent = f"0 {nx - 1} 0 {ny - 1} 0 {nz - 1}"
    text = ('<?xml version="1.0"?>\n<VTKFile type="ImageData" version="0.1" byte_order="LittleEndian" '
            'header_type="UInt32">\n'
            f'<ImageData WholeExtent="{extent}" Origin="0 0 0" Spacing="{spacing} {spacing} {spacing}">\n'
            f'<Piece Extent="{extent}"><PointData Scalars="{next(iter(arrays))}">\n' + "\n".join(parts)
            + "\n</PointData></Piece>\n</ImageData>\n</VTKFile>\n")
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)


def measures_frame(rows: list[Measures], time_unit_s: float | None):
    import pandas as pd

    df = pd.DataFrame({
        "time [reduced]": [m.time for m in rows],
        "mass (sum of rho) [cells]": [m.mass for m in rows],
        "relative density (mean rho)": [m.density for m in rows],
        "centre distance [cells]": [m.centre_distance for m in rows],
        "neck radius [cells]": [m.neck_radius for m in rows],
        "convex-hull volume [cells]": [m.hull_volume for m in rows],
        "grains": [m.grains for m in rows],
    })
    if time_unit_s:
        df.insert(1, "time [s]", df["time [reduced]"] * time_unit_s)
    return df


def final_descriptors(rows: list[Measures], spacing_m: float | None, time_unit_s: float | None) -> dict:
    """Descriptors of a finished run for a campaign experiment: name → (value, unit)."""
    first, last = rows[0], rows[-1]
    out = {
        "sinter relative density": (last.density, "1"),
        "sinter hull shrinkage": (1.0 - last.hull_volume / first.hull_volume if first.hull_volume else float("nan"), "1"),
        "sinter grains": (float(last.grains), "count"),
        "sinter time": ((last.time * time_unit_s, "s") if time_unit_s else (last.time, "reduced")),
    }
    if last.neck_radius is not None:
        out["sinter neck radius"] = ((last.neck_radius * spacing_m * 1e6, "µm") if spacing_m
                                     else (last.neck_radius, "cells"))
    return {k: (float(v), u) for k, (v, u) in out.items() if np.isfinite(v)}


def cross_section_png(state: State, path: Path, title: str = "") -> None:
    """ρ and the grain map on the middle plane (the middle z slice in 3D)."""
    from matplotlib.figure import Figure

    rho = state.rho.detach().cpu().numpy()
    grains = state.grain_map()
    if rho.ndim == 3:
        mid = rho.shape[0] // 2
        rho, grains = rho[mid], grains[mid]
    fig = Figure(figsize=(9, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    im = a.imshow(rho, cmap="gray", vmin=0, vmax=1, origin="lower")
    fig.colorbar(im, ax=a, label="ρ")
    a.set_title("density ρ")
    masked = np.ma.masked_less(grains, 0)
    b.imshow(masked % 20, cmap="tab20", vmin=0, vmax=19, origin="lower", interpolation="nearest")
    b.set_title("grains")
    for ax in (a, b):
        ax.set_xlabel("x [cells]")
        ax.set_ylabel("y [cells]")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)


def isosurface_png(state: State, path: Path, title: str = "") -> None:
    """3D render of the ρ = 0.5 surface (marching cubes), coloured by grain."""
    from matplotlib.figure import Figure

    measure = need("skimage.measure", extra="sinter")
    rho = state.rho.detach().cpu().numpy()
    verts, faces, _, _ = measure.marching_cubes(np.pad(rho, 1), level=0.5)
    verts -= 1
    grains = state.grain_map()
    centre = verts[faces].mean(axis=1).round().astype(int)
    for ax in range(3):
        centre[:, ax] = centre[:, ax].clip(0, rho.shape[ax] - 1)
    gid = grains[tuple(centre.T)]
    import matplotlib

    colours = matplotlib.colormaps["tab20"]((np.maximum(gid, 0) % 20) / 19.0)
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    ax.add_collection3d(Poly3DCollection(verts[faces][:, :, ::-1], facecolors=colours, linewidths=0))
    for i, n in enumerate(rho.shape[::-1]):
        getattr(ax, f"set_{'xyz'[i]}lim")(0, n)
    ax.set_box_aspect(rho.shape[::-1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    if title:
        ax.set_title(title)
    fig.savefig(path, dpi=110)


def read_observations(folder: Path, grid: tuple[int, ...], observe: str = "occupancy"):
    """Observed occupancy and/or grain labels from ``snapshots.zarr`` (t > 0) or ``observations.csv`` in ``folder``.

    ``observe``: "occupancy" (ρ of the snapshots, or the volumes in the csv's
    ``file`` column: occupancy in [0, 1], or a mask or labels, > 0 = inside), "labels"
    (the snapshots' grain maps, or label volumes: 0 = pore, k = grain k of
    the start's labelling, from the csv's ``labels`` column, else ``file``)
    or "both" (the csv then needs both columns).
    """
    import pandas as pd

    from datarial.errors import DataFileError
    from datarial.sinter.assimilate import OBSERVE, Observations

    if observe not in OBSERVE:
        raise DataFileError(f"observe: one of {', '.join(OBSERVE)}, got {observe!r}")
    want_occ, want_lab = observe != "labels", observe != "occupancy"
    folder = Path(folder)
    if (folder / "snapshots.zarr").exists():
        zarr = need("zarr", extra="sinter")
        root = zarr.open_group(str(folder / "snapshots.zarr"), mode="r")
        times = np.asarray(root["time"][:])
        keep = times > 0
        shape = tuple(root["rho"].shape[1:])
        if shape != tuple(grid):
            raise DataFileError(f"{folder}/snapshots.zarr: volumes of shape {shape} differ from the grid {grid}")
        maps = np.asarray(root["grains"][:])[keep].astype(np.int64) + 1 if want_lab else None
        occ = np.clip(np.asarray(root["rho"][:])[keep], 0, 1) if want_occ else (maps > 0).astype(float)
        return Observations(times[keep], occ, maps)
    table = folder / "observations.csv"
    if not table.exists():
        raise DataFileError(f"{folder}: has neither snapshots.zarr nor observations.csv (columns time,file)")
    df = pd.read_csv(table)
    lab_col = "labels" if "labels" in df.columns else "file"
    cols = ["time", "file"] + (["labels"] if observe == "both" else [])
    if not set(cols) <= set(df.columns):
        raise DataFileError(f"{table}: needs columns {','.join(cols)}"
                            + (" (occupancy volumes in file, label volumes in labels)" if observe == "both" else ""))
    from datarial.micro.io import read_volume

    def volume(i: int, column: str, name: object) -> np.ndarray:
        vol = np.asarray(read_volume(folder / str(name)).data, dtype=float)
        if vol.ndim == 3 and vol.shape[0] == 1 and len(grid) == 2:
            vol = vol[0]
        if tuple(vol.shape) != tuple(grid):
            raise DataFileError(f"{table}: row {i}, column '{column}': {name} has shape {vol.shape}, the grid is {grid}")
        return vol

    times, vols, maps = [], [], []
    for i, row in enumerate(df.to_dict("records"), start=2):
        try:
            times.append(float(row["time"]))
        except (TypeError, ValueError):
            raise DataFileError(f"{table}: row {i}, column 'time': {row['time']!r} is not a number") from None
        if want_lab:
            vol = volume(i, lab_col, row[lab_col])
            if np.any(vol != np.round(vol)) or vol.min() < 0:
                raise DataFileError(f"{table}: row {i}, column '{lab_col}': {row[lab_col]} holds no labels "
                                    "(whole numbers, 0 = pore, k = grain k)")
            maps.append(vol.astype(np.int64))
        if want_occ:
            vol = volume(i, "file", row["file"])
            if np.all(vol == np.round(vol)):  # a mask or label volume: > 0 is inside
                vols.append((vol > 0).astype(float))
            elif vol.min() >= -0.05 and vol.max() <= 1.05:  # occupancy (a simulated ρ overshoots a little)
                vols.append(np.clip(vol, 0, 1))
            else:
                raise DataFileError(f"{table}: row {i}, column 'file': {row['file']} has fractional values in "
                                    f"{vol.min():.3g} … {vol.max():.3g}: give occupancy in [0, 1] or a mask/labels")
    labels = np.stack(maps) if want_lab else None
    occ = np.stack(vols) if want_occ else (labels > 0).astype(float)
    return Observations(np.array(times), occ, labels)


def assimilation_figures(problem, result, out: Path) -> None:
    """cost_history.png (J and best so far per evaluation) and compare.png (observed vs best simulation)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    n = np.arange(1, len(result.history) + 1)
    ax.semilogy(n, result.history, ".", color="0.6", label="evaluation")
    ax.semilogy(n, result.best_so_far, "-", label="best so far")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("cost J")
    ax.set_title(f"{result.method.upper()}: " + ", ".join(f"{k} = {v:.3g}" for k, v in result.best.items()))
    ax.legend()
    fig.savefig(out / "cost_history.png", dpi=120)

    z = [u.to_z(result.best[u.name]) for u in problem.unknowns]
    sim = problem.simulate(problem.parameters(z))
    obs = problem.observations.occupancy
    if obs.ndim == 4:  # 3D: middle z slice
        sim, obs = sim[:, sim.shape[1] // 2], obs[:, obs.shape[1] // 2]
    T = len(problem.observations.times)
    fig = Figure(figsize=(3.2 * T, 6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(2, T, squeeze=False))
    for k in range(T):
        for row, (img, name) in enumerate(((obs[k], "observed"), (sim[k], "simulated, best"))):
            a = axes[row, k]
            a.imshow(img, cmap="gray", vmin=0, vmax=1, origin="lower")
            a.set_title(f"{name}, t = {problem.observations.times[k]:.3g}", fontsize=9)
            a.set_xticks([])
            a.set_yticks([])
    fig.savefig(out / "compare.png", dpi=110)
