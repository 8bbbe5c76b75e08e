"""Reading and writing volumes: TIFF stacks, multi-page TIFF, slice folders, NumPy, Zarr, HDF5.

Volumes are arrays indexed (z, y, x): z is the slicing direction of a FIB-SEM
series.  The voxel size travels with the volume, per axis, in metres, because
FIB-SEM slices are often thicker than the pixel size.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
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


def _zarr_array(node, path: Path, dataset: str | None):
    """The array itself, or the one named ``dataset`` (or the only one) in a Zarr group."""
    if hasattr(node, "shape"):
        return node
    if dataset is None:
        arrays = [k for k, _ in node.arrays()]
        if len(arrays) != 1:
            raise DatarialError(f"{path}: name the array to read with --dataset (found {', '.join(arrays) or 'none'})")
        dataset = arrays[0]
    return node[dataset]


def _read_zarr(path: Path, dataset: str | None) -> np.ndarray:
    return np.asarray(_zarr_array(need("zarr").open(str(path), mode="r"), path, dataset))


def _h5_dataset(f, path: Path, dataset: str | None):
    """The named dataset of an open HDF5 file, or its only 3D one."""
    if dataset is None:
        found: list[str] = []
        f.visititems(lambda name, obj: found.append(name) if getattr(obj, "ndim", 0) == 3 else None)
        if len(found) != 1:
            raise DatarialError(f"{path}: name the 3D dataset with --dataset (found {', '.join(found) or 'none'})")
        dataset = found[0]
    if dataset not in f:
        raise DatarialError(f"{path}: no dataset {dataset!r}")
    return f[dataset]


def _read_h5(path: Path, dataset: str | None) -> np.ndarray:
    with need("h5py").File(path, "r") as f:
        return np.asarray(_h5_dataset(f, path, dataset))


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


class LazyVolume:
    """A volume read slab by slab, for data larger than memory.

    ``lazy[z0:z1]`` returns a NumPy array of those slices.  TIFF (through its
    Zarr view), Zarr and HDF5 read only the asked chunks; ``.npy`` is memory
    mapped; a slice folder reads the asked files.  Use as a context manager
    (HDF5 files stay open until closed).
    """

    def __init__(self, path: str | Path, dataset: str | None = None):
        self.path = p = Path(path)
        self._close = None
        if not p.exists():
            raise DatarialError(f"{p}: no such file or folder")
        suffix = p.suffix.lower()
        try:
            if p.is_dir() and suffix != ".zarr":
                self._files = sorted((f for f in p.iterdir() if f.suffix.lower() in SLICE_SUFFIXES), key=_natural_key)
                if not self._files:
                    raise DatarialError(f"{p}: no image slices ({', '.join(SLICE_SUFFIXES)}) in this folder")
                first = self._slice_file(0)
                self._array = None
                self.shape, self.dtype = (len(self._files), *first.shape), first.dtype
                return
            if suffix in (".tif", ".tiff"):
                store = need("tifffile").imread(p, aszarr=True)
                arr = need("zarr").open(store, mode="r")
                self._close = store.close
            elif suffix == ".npy":
                arr = np.load(p, mmap_mode="r", allow_pickle=False)
            elif suffix == ".zarr":
                arr = _zarr_array(need("zarr").open(str(p), mode="r"), p, dataset)
            elif suffix in (".h5", ".hdf5"):
                f = need("h5py").File(p, "r")
                self._close = f.close
                arr = _h5_dataset(f, p, dataset)
            else:
                raise DatarialError(f"{p}: unknown volume format {suffix!r} (use .tif, .npy, .zarr, .h5 or a folder of slices)")
        except DatarialError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise DatarialError(f"{p}: could not be read as a volume ({exc})") from None
        if arr.ndim == 2:
            arr = np.asarray(arr)[None]
        if arr.ndim != 3:
            self.close()
            raise DatarialError(f"{p}: expected a 3D volume, got shape {tuple(arr.shape)}")
        self._array = arr
        self.shape, self.dtype = tuple(int(n) for n in arr.shape), np.dtype(arr.dtype)

    def _slice_file(self, k: int) -> np.ndarray:
        f = self._files[k]
        img = need("tifffile").imread(f) if f.suffix.lower() in (".tif", ".tiff") else need("skimage.io").imread(f)
        if img.ndim == 3 and img.shape[-1] in (3, 4):
            img = img[..., :3].mean(-1).astype(np.float32)
        return img

    def __getitem__(self, key) -> np.ndarray:
        if self._array is not None:
            return np.asarray(self._array[key])
        z = key[0] if isinstance(key, tuple) else key
        rest = key[1:] if isinstance(key, tuple) else ()
        zs = range(self.shape[0])[z]
        if isinstance(zs, int):
            return self._slice_file(zs)[rest]
        block = np.stack([self._slice_file(k) for k in zs]) if len(zs) else np.zeros((0, *self.shape[1:]), self.dtype)
        for k, img in zip(zs, block, strict=True):
            if img.shape != tuple(self.shape[1:]):
                raise DatarialError(f"{self._files[k]}: slice shape {img.shape} differs from the first slice's {tuple(self.shape[1:])}")
        return block[(slice(None), *rest)]

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> LazyVolume:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_volume_slabs(path: str | Path, slabs: Iterable[np.ndarray], shape: tuple[int, int, int], dtype,
                       voxel_size: tuple[float, float, float] | None = None, chunk_z: int = 16) -> Path:
    """Write a volume that arrives as consecutive z-slabs without holding it in memory.

    TIFF (ImageJ, voxel size in µm) is streamed page by page, ``.zarr`` gets
    chunks of ``chunk_z`` slices, ``.npy`` is a memory-mapped file.  Everything
    goes to ``NAME.part`` first and is renamed at the end: an error leaves no
    half-written volume behind.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".tif", ".tiff", ".npy", ".zarr"):
        raise DatarialError(f"{p}: write volumes as .tif, .npy or .zarr")
    tmp = p.with_name(p.name + ".part")
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    written = 0

    def pages() -> Iterator[np.ndarray]:
        nonlocal written
        for slab in slabs:
            slab = np.asarray(slab, dtype=dtype)
            if slab.ndim != 3 or slab.shape[1:] != shape[1:] or written + len(slab) > shape[0]:
                raise DatarialError(f"{p}: slab of shape {slab.shape} does not fit a volume of shape {shape} at z={written}")
            yield from slab
            written += len(slab)

    try:
        if suffix in (".tif", ".tiff"):
            meta, res = {"axes": "ZYX"}, None
            if voxel_size is not None:
                z, y, x = (v * 1e6 for v in voxel_size)
                meta.update(spacing=z, unit="um")
                res = (1.0 / x, 1.0 / y)
            need("tifffile").imwrite(tmp, pages(), shape=shape, dtype=dtype, imagej=True, metadata=meta, resolution=res)
        else:
            if suffix == ".npy":
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
                out = need("zarr").open_array(str(tmp), mode="w", shape=shape, dtype=dtype,
                                               chunks=(min(chunk_z, shape[0]), *shape[1:]))
            z0 = 0
            buf: list[np.ndarray] = []
            for page in pages():
                buf.append(page)
                if len(buf) == chunk_z:
                    out[z0:z0 + len(buf)] = np.stack(buf)
                    z0, buf = z0 + len(buf), []
            if buf:
                out[z0:z0 + len(buf)] = np.stack(buf)
            if suffix == ".npy":
                out.flush()
                del out
        if written != shape[0]:
            raise DatarialError(f"{p}: got {written} slices for a volume of {shape[0]}")
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    if p.is_dir():
        shutil.rmtree(p)
    tmp.replace(p)
    return p
