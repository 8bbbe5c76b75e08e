"""Reading and writing volumes: TIFF stacks, multi-page TIFF, slice folders, NumPy, Zarr, HDF5.

Volumes are arrays indexed (z, y, x): z is the slicing direction of a FIB-SEM
series.  The voxel size travels with the volume, per axis, in metres, because
FIB-SEM slices are often thicker than the pixel size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datarial.errors import DatarialError
from datarial.micro import need
from datarial.units import parse_list

SLICE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Volume:
    """A 3D array (z, y, x) with its voxel size (z, y, x) in metres."""

    data: np.ndarray
    voxel_size: tuple[float, float, float]
    source: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape


def parse_voxel_size(text: str, what: str = "--voxel-size") -> tuple[float, float, float]:
    """``'20nm'`` (isotropic), ``'20nm,20nm,40nm'`` (x, y, z as a microscope states it) → (z, y, x) in m."""
    values = parse_list(text, "length", what=what)
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise DatarialError(f"{what}: give one size or three (x,y,z), got {len(values)}: {text!r}")
    if any(v <= 0 for v in values):
        raise DatarialError(f"{what}: voxel sizes must be positive, got {text!r}")
    x, y, z = values
    return (z, y, x)


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def read_volume(path: str | Path, voxel_size: tuple[float, float, float] | None = None,
                dataset: str | None = None) -> Volume:
    """Read a volume from a file or a folder of slices (sorted naturally: 2 before 10).

    Files: multi-page or stacked ``.tif``/``.tiff``, ``.npy``, ``.zarr`` (array or
    group with ``dataset``), ``.h5``/``.hdf5`` (``dataset``, default the only 3D one).
    A 2D image becomes a one-slice volume.  ``voxel_size`` defaults to 1 m per
    voxel when not given (measures are then in voxel units).
    """
    p = Path(path)
    if not p.exists():
        raise DatarialError(f"{p}: no such file or folder")
    if p.is_dir() and p.suffix.lower() != ".zarr":
        data = _read_folder(p)
    else:
        suffix = p.suffix.lower()
        try:
            if suffix in (".tif", ".tiff"):
                data = need("tifffile").imread(p)
            elif suffix == ".npy":
                data = np.load(p, allow_pickle=False)
            elif suffix == ".zarr":
                data = _read_zarr(p, dataset)
            elif suffix in (".h5", ".hdf5"):
                data = _read_h5(p, dataset)
            elif suffix in (".png", ".bmp", ".jpg", ".jpeg"):
                data = need("skimage.io").imread(p)
            else:
                raise DatarialError(f"{p}: unknown volume format {suffix!r} (use .tif, .npy, .zarr, .h5 or a folder of slices)")
        except DatarialError:
            raise
        except Exception as exc:
            raise DatarialError(f"{p}: could not be read as a volume ({exc})") from None
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim == 4 and data.shape[-1] in (3, 4):  # RGB(A) slices: greyscale
        data = data[..., :3].mean(-1).astype(np.float32)
    if data.ndim != 3:
        raise DatarialError(f"{p}: expected a 3D volume, got shape {data.shape}")
    return Volume(data, voxel_size or (1.0, 1.0, 1.0), str(p))


def _read_folder(folder: Path) -> np.ndarray:
    files = sorted((f for f in folder.iterdir() if f.suffix.lower() in SLICE_SUFFIXES), key=_natural_key)
    if not files:
        raise DatarialError(f"{folder}: no image slices ({', '.join(SLICE_SUFFIXES)}) in this folder")
    tifffile, skio = need("tifffile"), need("skimage.io")
    slices = []
    for f in files:
        img = tifffile.imread(f) if f.suffix.lower() in (".tif", ".tiff") else skio.imread(f)
        if img.ndim == 3 and img.shape[-1] in (3, 4):
            img = img[..., :3].mean(-1)
        if slices and img.shape != slices[0].shape:
            raise DatarialError(f"{f}: slice shape {img.shape} differs from the first slice's {slices[0].shape}")
        slices.append(img)
    return np.stack(slices)


def _read_zarr(path: Path, dataset: str | None) -> np.ndarray:
    zarr = need("zarr")
    node = zarr.open(str(path), mode="r")
    if hasattr(node, "shape"):
        return np.asarray(node)
    if dataset is None:
        arrays = [k for k, v in node.arrays()]
        if len(arrays) != 1:
            raise DatarialError(f"{path}: name the array to read with --dataset (found {', '.join(arrays) or 'none'})")
        dataset = arrays[0]
    return np.asarray(node[dataset])


def _read_h5(path: Path, dataset: str | None) -> np.ndarray:
    h5py = need("h5py")
    with h5py.File(path, "r") as f:
        if dataset is None:
            found: list[str] = []
            f.visititems(lambda name, obj: found.append(name) if getattr(obj, "ndim", 0) == 3 else None)
            if len(found) != 1:
                raise DatarialError(f"{path}: name the 3D dataset with --dataset (found {', '.join(found) or 'none'})")
            dataset = found[0]
        if dataset not in f:
            raise DatarialError(f"{path}: no dataset {dataset!r}")
        return np.asarray(f[dataset])


def write_volume(path: str | Path, data: np.ndarray, voxel_size: tuple[float, float, float] | None = None) -> Path:
    """Write a volume as multi-page TIFF (ImageJ hyperstack with the voxel size in µm),
    ``.npy`` or ``.zarr``; the file is written next to its name and renamed, so a
    failure leaves no half-written file."""
    p = Path(path)
    suffix = p.suffix.lower()
    tmp = p.with_name(p.name + ".part")
    if suffix in (".tif", ".tiff"):
        tifffile = need("tifffile")
        meta, res = {"axes": "ZYX"}, None
        if voxel_size is not None:
            z, y, x = (v * 1e6 for v in voxel_size)
            meta.update(spacing=z, unit="um")
            res = (1.0 / x, 1.0 / y)
        tifffile.imwrite(tmp, np.asarray(data), imagej=True, metadata=meta, resolution=res)
    elif suffix == ".npy":
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(data))
    elif suffix == ".zarr":
        zarr = need("zarr")
        zarr.save_array(str(p), np.asarray(data))
        return p
    else:
        raise DatarialError(f"{p}: write volumes as .tif, .npy or .zarr")
    tmp.replace(p)
    return p
