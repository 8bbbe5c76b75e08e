"""Initial microstructures: grains as labelled voxels, then smooth density and order-parameter fields.

Every builder returns a :class:`Packing`: an integer label image (0 = pore,
k = grain k) plus the grain centres (cells) and random crystal orientations,
from which :func:`datarial.sinter.solver.initial_state` makes ρ and η with
diffuse interfaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from datarial.errors import DatarialError


@dataclass(frozen=True)
class Packing:
    """Labelled grains on a grid (z, y, x) or (y, x); ``centres`` in cells, ``rotations`` (n, 3, 3)."""

    labels: np.ndarray
    centres: np.ndarray
    rotations: np.ndarray

    @property
    def n(self) -> int:
        return len(self.centres)

    @property
    def dim(self) -> int:
        return self.labels.ndim


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random 3D rotation matrices (n, 3, 3), from unit quaternions."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], 1)


def _balls(shape: tuple[int, ...], centres: np.ndarray, radii: np.ndarray, periodic: bool) -> np.ndarray:
    """Label image: a voxel inside several balls takes the one whose surface is farthest (power diagram)."""
    best = np.full(shape, -np.inf, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    for k, (c, r) in enumerate(zip(centres, radii, strict=True), start=1):
        axes = []
        for n, ci in zip(shape, c, strict=True):
            idx = np.arange(int(np.floor(ci - r)) - 1, int(np.ceil(ci + r)) + 2)
            if not periodic:
                idx = idx[(idx >= 0) & (idx < n)]
            axes.append(idx)
        offs = np.meshgrid(*[(a - ci).astype(np.float32) for a, ci in zip(axes, c, strict=True)], indexing="ij")
        depth = r - np.sqrt(sum(o * o for o in offs))  # > 0 inside
        box = np.ix_(*[a % n for a, n in zip(axes, shape, strict=True)])
        sub_best, sub_lab = best[box], labels[box]
        take = (depth > 0) & (depth > sub_best)
        sub_best[take] = depth[take]
        sub_lab[take] = k
        best[box], labels[box] = sub_best, sub_lab
    return labels


def two_particles(shape: tuple[int, ...], radius: float, overlap: float = 1.0, seed: int = 0,
                  neck: float = 0.0) -> Packing:
    """Two equal grains side by side along the last axis, overlapping by ``overlap`` cells (a small neck).

    ``neck`` > 0 (cells) fills the gap round the contact with a circular
    fillet tangent to both grains (a torus in 3D) whose narrowest section has
    half-width (radius) ``neck``: Kuczynski's neck geometry, whose curvature
    radius is ≈ neck²/2r, in place of the sharp crease that two bare
    overlapping discs leave.  The boundary between the grains is the plane
    midway between the centres.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise DatarialError(f"the grid must be 2D or 3D, got {shape}")
    mid = (np.asarray(shape, float) - 1) / 2
    if 4 * radius - overlap + 8 > shape[-1] or 2 * radius + 8 > min(shape):
        raise DatarialError(f"two grains of radius {radius} do not fit a grid of {shape} with a margin")
    off = np.zeros(len(shape))
    half = radius - overlap / 2  # centre to boundary plane
    off[-1] = half
    centres = np.stack([mid - off, mid + off])
    labels = _balls(shape, centres, np.full(2, float(radius)), periodic=False)
    if neck > 0:
        bare = math.sqrt(max(radius * radius - half * half, 0.0))
        if not bare < neck < radius:
            raise DatarialError(f"neck = {neck:g} cells must lie between the bare contact's half-width "
                                f"{bare:.3g} and the radius {radius:g}")
        # Fillet circle of radius f centred at (axial 0, radial neck + f), tangent to both grains.
        f = (neck * neck + half * half - radius * radius) / (2.0 * (radius - neck))
        reach = half * f / (radius + f)  # axial half-extent of the fillet (tangent points)
        grids = np.meshgrid(*[np.arange(n, dtype=float) - m for n, m in zip(shape, mid, strict=True)],
                            indexing="ij")
        axial = grids[-1]
        radial = np.sqrt(sum(g * g for g in grids[:-1]))
        fill = ((np.abs(axial) <= reach) & (radial <= neck + f)
                & (np.hypot(axial, radial - neck - f) >= f) & (labels == 0))
        labels[fill & (axial < 0)] = 1
        labels[fill & (axial >= 0)] = 2
    return Packing(labels, centres, random_rotations(2, np.random.default_rng(seed)))


def as_one_grain(packing: Packing) -> Packing:
    """The same particles as one grain (no grain boundaries between them): one label, centred at the mean
    of the centres, with the first grain's orientation."""
    return Packing((packing.labels > 0).astype(packing.labels.dtype), packing.centres.mean(axis=0, keepdims=True),
                   packing.rotations[:1])


def random_packing(shape: tuple[int, ...], n: int, radius: float, spread: float = 0.15, overlap: float = 0.1,
                   periodic: bool = True, seed: int = 0, max_tries: int = 200_000) -> Packing:
    """``n`` grains with radii radius·(1 ± spread), placed at random, each touching space for necks.

    Grains may overlap by up to ``overlap`` × the smaller radius (initial
    necks); placement is random sequential, so dense packings need room.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    size = np.asarray(shape, float)
    radii = radius * (1.0 + spread * rng.uniform(-1, 1, n))
    centres: list[np.ndarray] = []
    tries = 0
    margin = 0.0 if periodic else radius + 2
    for r in radii:
        while True:
            tries += 1
            if tries > max_tries:
                raise DatarialError(f"could not place {n} grains of radius {radius:g} in {shape}: "
                                    f"{len(centres)} fitted; use a larger grid or fewer grains")
            c = margin + rng.random(len(shape)) * (size - 2 * margin)
            ok = True
            for c2, r2 in zip(centres, radii, strict=False):
                d = c - c2
                if periodic:
                    d -= size * np.round(d / size)
                if np.linalg.norm(d) < r + r2 - overlap * min(r, r2):
                    ok = False
                    break
            if ok:
                centres.append(c)
                break
    cs = np.array(centres)
    return Packing(_balls(shape, cs, radii, periodic), cs, random_rotations(n, rng))


def close_packed(shape: tuple[int, ...], radius: float, overlap: float = 0.5, seed: int = 0) -> Packing:
    """Hexagonal (2D) or face-centred cubic (3D) packing of equal grains, neighbours overlapping by ``overlap`` cells."""
    shape = tuple(int(s) for s in shape)
    a = 2 * radius - overlap  # nearest-neighbour distance
    pts = []
    if len(shape) == 2:
        h = a * math.sqrt(3) / 2
        for i in range(int(shape[0] / h) + 1):
            for j in range(int(shape[1] / a) + 1):
                pts.append((radius + i * h, radius + j * a + (a / 2 if i % 2 else 0.0)))
    else:
        cube = a * math.sqrt(2)
        basis = np.array([(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]) * cube
        for i in range(int(shape[0] / cube) + 1):
            for j in range(int(shape[1] / cube) + 1):
                for k in range(int(shape[2] / cube) + 1):
                    for b in basis:
                        pts.append(tuple(radius + np.array((i, j, k)) * cube + b))
    pts = np.array(pts)
    inside = np.all((pts >= radius + 1) & (pts <= np.asarray(shape) - radius - 2), axis=1)
    cs = pts[inside]
    if len(cs) < 2:
        raise DatarialError(f"grains of radius {radius} leave fewer than two in a close packing of {shape}")
    return Packing(_balls(shape, cs, np.full(len(cs), float(radius)), periodic=False), cs,
                   random_rotations(len(cs), np.random.default_rng(seed)))


def from_labels(labels: np.ndarray, seed: int = 0) -> Packing:
    """Grains from a labelled image (e.g. a segmented tomogram): 0 = pore, each other label one grain."""
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3):
        raise DatarialError(f"a labelled image must be 2D or 3D, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatarialError("a labelled image must hold whole-number labels (0 = pore)")
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if len(ids) == 0:
        raise DatarialError("the labelled image has no grain (every voxel is 0)")
    relabelled = np.zeros(labels.shape, dtype=np.int32)
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    relabelled = lut[labels.clip(0)]
    centres = np.array(ndimage.center_of_mass(np.ones(labels.shape), relabelled, np.arange(1, len(ids) + 1)))
    return Packing(relabelled, centres.reshape(len(ids), labels.ndim),
                   random_rotations(len(ids), np.random.default_rng(seed)))
