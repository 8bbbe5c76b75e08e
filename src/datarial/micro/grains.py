"""Orientation maps (EBSD, TEM scanning precession diffraction): grains and grain-boundary misorientation.

Maps are read by orix (``.ang`` including NanoMegas ASTAR, ``.ctf``, h5ebsd
and orix HDF5), one phase at a time, with the crystal symmetry of the file or
the one given (4/mmm for Ba122).  orix has no grain reconstruction, so it is
built here: neighbouring pixels (4-connected) belong to one grain when their
symmetry-reduced misorientation angle is below the threshold; grains are the
connected components of that graph (SciPy).  Boundary statistics are weighted
by boundary length; each boundary pixel edge carries the misorientation of
the two pixels across it.

Grain-boundary transport of K-doped Ba122: intergrain Jc relative to
intragrain stays 1 up to a critical angle θc and decays exponentially beyond,
Jc,inter/Jc,intra = exp(-(θ-θc)/θ0).  :func:`fit_gb_transport` fits θc and θ0
to bicrystal data; :func:`gb_transport` applied to a map's boundaries gives
the length-weighted "good boundary" fraction.

Lengths in metres inside; tables state µm and degrees.
"""

from __future__ import annotations

import contextlib
import io as io_mod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from datarial.errors import DatarialError
from datarial.micro import need

MAP_SUFFIXES = (".ang", ".ctf", ".h5", ".hdf5", ".h5ebsd", ".h5oina")
_UNIT = {"um": 1e-6, "µm": 1e-6, "nm": 1e-9, "mm": 1e-3, "m": 1.0}


@dataclass
class OrientationMap:
    """One phase of a 2D orientation map on a square grid."""

    quaternions: np.ndarray  # (ny, nx, 4); NaN where not indexed as this phase
    mask: np.ndarray  # (ny, nx) bool: indexed as this phase
    step: tuple[float, float]  # (dy, dx) in m
    symmetry: str  # point group, e.g. "4/mmm"
    phase: str
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    def orientations(self, sel=None):
        """orix Orientation of the pixels ``sel`` (default: every indexed pixel, flattened)."""
        orix_q = need("orix.quaternion", "orientation")
        q = self.quaternions[self.mask] if sel is None else self.quaternions[sel]
        return orix_q.Orientation(q, symmetry=point_group(self.symmetry))


def point_group(name: str):
    """orix point group by its Hermann–Mauguin name (``4/mmm``, ``m-3m``, ``422`` …)."""
    try:
        return _point_groups()[name.replace(" ", "")]
    except KeyError:
        raise DatarialError(f"--symmetry: unknown point group {name!r} (e.g. 4/mmm, mmm, 6/mmm, m-3m)") from None


@lru_cache(1)
def _point_groups() -> dict:
    sym = need("orix.quaternion.symmetry", "orientation")
    groups = [getattr(sym, n) for n in dir(sym) if isinstance(getattr(sym, n), sym.Symmetry)]
    return {g.name: g for g in groups if g.name}


def read_orientation_map(path: str | Path, symmetry: str | None = None, phase: str | None = None) -> OrientationMap:
    """Read a square-grid orientation map with orix and keep one phase.

    ``phase``: a phase name or id in the file; default the phase with most indexed
    pixels.  ``symmetry`` overrides the file's point group (some files state none).
    Step sizes are taken in the file's scan unit (µm when it states none).
    """
    p = Path(path)
    if not p.exists():
        raise DatarialError(f"{p}: no such file")
    if p.suffix.lower() not in MAP_SUFFIXES:
        raise DatarialError(f"{p}: orientation maps are read from {', '.join(MAP_SUFFIXES)} files")
    io = need("orix.io", "orientation")
    try:
        with contextlib.redirect_stdout(io_mod.StringIO()):  # orix prints phase-name notes
            xmap = io.load(p)
    except Exception as exc:
        raise DatarialError(f"{p}: could not be read as an orientation map ({exc})") from None
    if len(xmap.shape) != 2:
        raise DatarialError(f"{p}: expected a 2D map, got shape {xmap.shape}")
    ids = {int(i): ph for i, ph in xmap.phases if int(i) >= 0}
    if not ids:
        raise DatarialError(f"{p}: no indexed phase in this map")
    pid = xmap.phase_id
    if phase is None:
        chosen = max(ids, key=lambda i: int(np.count_nonzero(pid == i)))
    else:
        by_name = {ph.name: i for i, ph in ids.items()}
        if phase in by_name:
            chosen = by_name[phase]
        elif phase.lstrip("-").isdigit() and int(phase) in ids:
            chosen = int(phase)
        else:
            raise DatarialError(f"{p}: no phase {phase!r} (phases: {', '.join(f'{i} {ph.name}' for i, ph in ids.items())})")
    ph = ids[chosen]
    sym_name = symmetry or (ph.point_group.name if ph.point_group is not None else None)
    if sym_name is None:
        raise DatarialError(f"{p}: phase {ph.name!r} states no symmetry; give --symmetry (e.g. 4/mmm)")
    point_group(sym_name)
    ny, nx = xmap.shape
    quats = np.full((ny, nx, 4), np.nan)
    mask = np.zeros((ny, nx), bool)
    rows, cols = xmap.row, xmap.col
    sel = pid == chosen
    quats[rows[sel], cols[sel]] = xmap.rotations.data[sel]
    mask[rows[sel], cols[sel]] = True
    unit = _UNIT.get(str(getattr(xmap, "scan_unit", "um") or "um").lower(), 1e-6)
    dy, dx = float(xmap.dy or 1.0), float(xmap.dx or 1.0)
    return OrientationMap(quats, mask, (dy * unit, dx * unit), sym_name, ph.name, str(p))


@dataclass
class GrainMap:
    """Grains of an orientation map and the boundaries between them."""

    grain_id: np.ndarray  # (ny, nx) int: grain index, -1 where not indexed or in a grain below min_pixels
    grains: pd.DataFrame  # one row per grain
    boundaries: pd.DataFrame  # one row per pair of neighbouring grains
    edge_angles: np.ndarray  # misorientation of every boundary pixel edge, degrees
    edge_lengths: np.ndarray  # length of every boundary pixel edge, m
    threshold: float  # degrees
    removed: int  # grains below min_pixels, dropped
    area: float  # indexed area of the phase, m²
    neighbour_angles: tuple[np.ndarray, np.ndarray] = ()  # to the right (ny, nx-1) and down (ny-1, nx), degrees


def _neighbour_angles(omap: OrientationMap) -> tuple[np.ndarray, np.ndarray]:
    """Misorientation angles (degrees) to the right (ny, nx-1) and down (ny-1, nx) neighbours; NaN off-phase."""
    orix_q = need("orix.quaternion", "orientation")
    sym = point_group(omap.symmetry)
    q, m = omap.quaternions, omap.mask
    out = []
    for a, b, ok in ((q[:, :-1], q[:, 1:], m[:, :-1] & m[:, 1:]), (q[:-1], q[1:], m[:-1] & m[1:])):
        ang = np.full(ok.shape, np.nan)
        if ok.any():
            o1 = orix_q.Orientation(a[ok], symmetry=sym)
            o2 = orix_q.Orientation(b[ok], symmetry=sym)
            ang[ok] = o1.angle_with(o2, degrees=True)
        out.append(ang)
    return out[0], out[1]


def reconstruct(omap: OrientationMap, threshold: float = 9.0, min_pixels: int = 5) -> GrainMap:
    """Grains: connected pixels whose neighbour misorientation is below ``threshold`` degrees.

    Grains with fewer than ``min_pixels`` pixels (noise, mis-indexed pixels) are
    dropped (grain id -1) and their boundaries ignored.
    """
    sparse, csgraph = need("scipy.sparse"), need("scipy.sparse.csgraph")
    if not 0 < threshold < 180:
        raise DatarialError(f"--threshold: an angle between 0 and 180°, got {threshold}°")
    ny, nx = omap.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    right, down = _neighbour_angles(omap)
    with np.errstate(invalid="ignore"):
        join_r, join_d = right < threshold, down < threshold
    src = np.concatenate([idx[:, :-1][join_r], idx[:-1][join_d]])
    dst = np.concatenate([idx[:, 1:][join_r], idx[1:][join_d]])
    graph = sparse.coo_matrix((np.ones(len(src), bool), (src, dst)), shape=(ny * nx, ny * nx))
    _, comp = csgraph.connected_components(graph, directed=False)
    comp = comp.reshape(ny, nx)
    comp[~omap.mask] = -1
    labels, counts = np.unique(comp[comp >= 0], return_counts=True)
    keep = labels[counts >= min_pixels]
    removed = int(len(labels) - len(keep))
    new = np.full(comp.max() + 2, -1)
    new[keep] = np.arange(len(keep))
    gid = new[comp]  # comp == -1 maps to new[-1] == -1
    dy, dx = omap.step
    grains = _grain_table(gid, omap, dy, dx)
    # boundary pixel edges: right neighbours share a vertical edge of length dy, down neighbours one of dx
    a = np.concatenate([gid[:, :-1].ravel(), gid[:-1].ravel()])
    b = np.concatenate([gid[:, 1:].ravel(), gid[1:].ravel()])
    ang = np.concatenate([right.ravel(), down.ravel()])
    length = np.concatenate([np.full(right.size, dy), np.full(down.size, dx)])
    gb = (a >= 0) & (b >= 0) & (a != b)
    a, b, ang, length = a[gb], b[gb], ang[gb], length[gb]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    edges = pd.DataFrame({"grain_a": lo, "grain_b": hi, "angle": ang, "length": length})
    bnd = edges.groupby(["grain_a", "grain_b"], sort=True).agg(
        length_um=("length", lambda s: s.sum() * 1e6), misorientation_deg=("angle", "median"),
        edges=("angle", "size")).reset_index()
    return GrainMap(gid, grains, bnd, ang, length, threshold, removed, float(omap.mask.sum() * dx * dy), (right, down))


def _grain_table(gid: np.ndarray, omap: OrientationMap, dy: float, dx: float) -> pd.DataFrame:
    ny, nx = gid.shape
    n = int(gid.max()) + 1
    flat = gid.ravel()
    sel = flat >= 0
    pixels = np.bincount(flat[sel], minlength=n)
    yy, xx = np.indices(gid.shape)
    cy = np.bincount(flat[sel], weights=yy.ravel()[sel], minlength=n) / np.maximum(pixels, 1)
    cx = np.bincount(flat[sel], weights=xx.ravel()[sel], minlength=n) / np.maximum(pixels, 1)
    border = np.zeros(n, bool)
    for edge in (gid[0], gid[-1], gid[:, 0], gid[:, -1]):
        border[edge[edge >= 0]] = True
    area = pixels * dx * dy
    return pd.DataFrame({
        "grain": np.arange(n), "pixels": pixels, "area_um2": area * 1e12,
        "ecd_um": 2 * np.sqrt(area / np.pi) * 1e6, "x_um": cx * dx * 1e6, "y_um": cy * dy * 1e6,
        "touches_edge": border,
    })


def random_misorientation_angles(symmetry: str, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """Misorientation angles (degrees) of random orientation pairs: the Mackenzie-type
    distribution of the point group, sampled (the closed form exists only for a few groups)."""
    orix_q = need("orix.quaternion", "orientation")
    sym = point_group(symmetry)
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(2, n, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)  # uniform on SO(3)
    return orix_q.Orientation(q[0], symmetry=sym).angle_with(orix_q.Orientation(q[1], symmetry=sym), degrees=True)


def gb_transport(theta: np.ndarray, theta_c: float, theta_0: float) -> np.ndarray:
    """Jc,inter/Jc,intra at misorientation ``theta`` (degrees): 1 up to θc, exp(-(θ-θc)/θ0) beyond."""
    theta = np.asarray(theta, float)
    return np.where(theta <= theta_c, 1.0, np.exp(-(theta - theta_c) / theta_0))


@dataclass(frozen=True)
class TransportFit:
    theta_c: float  # degrees
    theta_0: float  # degrees
    rmse: float  # of log10(ratio)
    n: int

    def residuals(self, theta: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        return np.log10(ratio) - np.log10(gb_transport(theta, self.theta_c, self.theta_0))


def fit_gb_transport(theta: np.ndarray, ratio: np.ndarray) -> TransportFit:
    """Least-squares fit of θc and θ0 to bicrystal data in log10(ratio) (ratios span decades).

    The piecewise model is not smooth in θc, so θc is scanned on a fine grid over
    the measured angles and θ0 solved for each (linear in 1/θ0 in log space).
    """
    theta, ratio = np.asarray(theta, float), np.asarray(ratio, float)
    if len(theta) < 3:
        raise DatarialError(f"grain-boundary fit: need at least 3 (angle, Jc ratio) points, got {len(theta)}")
    if np.any(ratio <= 0) or np.any(~np.isfinite(ratio)) or np.any(~np.isfinite(theta)):
        raise DatarialError("grain-boundary fit: Jc ratios must be positive numbers and angles finite")
    y = np.log(ratio)
    best = None
    for tc in np.linspace(0.0, theta.max(), 2001):
        d = np.clip(theta - tc, 0, None)
        if not np.any(d > 0):
            continue
        slope = -float(d @ y) / float(d @ d)  # y ≈ -d/θ0 → 1/θ0 = -(d·y)/(d·d)
        if slope <= 0:
            continue
        sse = float(np.sum((y + slope * d) ** 2))
        if best is None or sse < best[0] - 1e-12:
            best = (sse, tc, 1.0 / slope)
    if best is None:
        raise DatarialError("grain-boundary fit: the Jc ratio does not fall with angle in these data")
    sse, tc, t0 = best
    return TransportFit(float(tc), float(t0), float(np.sqrt(sse / len(theta)) / np.log(10)), len(theta))


@dataclass
class GrainSummary:
    rows: list[tuple[str, float, str]]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["measure", "value", "unit"])

    def value(self, measure: str) -> float:
        return next(v for m, v, _ in self.rows if m == measure)


def summarize(gm: GrainMap, critical_angle: float = 9.0, decay: float | None = None) -> GrainSummary:
    """Summary rows: grain count and sizes, boundary density, misorientation statistics,
    the length fraction of boundaries below ``critical_angle`` and, with ``decay`` (θ0,
    degrees), the length-weighted mean Jc,inter/Jc,intra (the effective good-boundary fraction)."""
    g = gm.grains
    inner = g[~g["touches_edge"]]
    L = gm.edge_lengths
    total = float(L.sum())
    rows: list[tuple[str, float, str]] = [
        ("grains", float(len(g)), "count"),
        ("grains not touching the map edge", float(len(inner)), "count"),
        ("grains below min size (dropped)", float(gm.removed), "count"),
        ("mean grain diameter (equivalent circle)", float(g["ecd_um"].mean()) if len(g) else np.nan, "µm"),
        ("median grain diameter", float(g["ecd_um"].median()) if len(g) else np.nan, "µm"),
        ("area-weighted mean grain diameter", float(np.average(g["ecd_um"], weights=g["area_um2"])) if len(g) else np.nan, "µm"),
        ("mean grain diameter, edge grains excluded", float(inner["ecd_um"].mean()) if len(inner) else np.nan, "µm"),
        ("grain-boundary length per area", total / gm.area * 1e-6 if gm.area else np.nan, "1/µm"),
        ("mean boundary misorientation", float(np.average(gm.edge_angles, weights=L)) if total else np.nan, "deg"),
        ("median boundary misorientation", float(_weighted_median(gm.edge_angles, L)) if total else np.nan, "deg"),
        (f"boundary length below {critical_angle:g}° (critical angle)",
         float(L[gm.edge_angles < critical_angle].sum() / total) if total else np.nan, "fraction"),
        ("reconstruction threshold", gm.threshold, "deg"),
    ]
    if decay is not None:
        eff = float(np.average(gb_transport(gm.edge_angles, critical_angle, decay), weights=L)) if total else np.nan
        rows.append((f"mean Jc,inter/Jc,intra (θc {critical_angle:g}°, θ0 {decay:g}°)", eff, "fraction"))
    return GrainSummary(rows)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x)
    c = np.cumsum(w[o])
    return float(x[o][np.searchsorted(c, 0.5 * c[-1])])


def ipf_colors(omap: OrientationMap, direction: str = "z") -> np.ndarray:
    """Inverse-pole-figure colours (ny, nx, 3) of the sample direction x, y or z; white off-phase."""
    plot = need("orix.plot", "orientation")
    vector = need("orix.vector", "orientation")
    axes = {"x": vector.Vector3d.xvector(), "y": vector.Vector3d.yvector(), "z": vector.Vector3d.zvector()}
    if direction not in axes:
        raise DatarialError(f"--ipf: sample direction x, y or z, got {direction!r}")
    key = plot.IPFColorKeyTSL(point_group(omap.symmetry).laue, direction=axes[direction])
    rgb = np.ones((*omap.shape, 3))
    if omap.mask.any():
        rgb[omap.mask] = key.orientation2color(omap.orientations())
    return rgb
