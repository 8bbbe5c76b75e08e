"""Synthetic sintered microstructures with known ground truth, and FIB-SEM-like rendering.

No public FIB-SEM volume of these materials exists, so tests and examples
build their own: overlapping spherical particles (their overlaps are the
sintering necks) in a box, the space between them open porosity, plus small
closed pores inside particles; optionally a third (impurity) phase.  The
renderer imitates what a FIB-SEM series does to such a volume: phase
contrast, blur, shot noise, curtaining stripes along the milling direction,
brightness drift from slice to slice and small slice misalignments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datarial.micro import artifacts

PORE, PHASE, IMPURITY = 0, 1, 2


@dataclass(frozen=True)
class SinteredVolume:
    labels: np.ndarray  # (z, y, x) uint8: 0 pore, 1 superconducting phase, 2 impurity
    centres: np.ndarray  # particle centres (n, 3), voxels
    radii: np.ndarray  # particle radii (n,), voxels


def sintered_particles(shape=(64, 64, 64), density: float = 0.7, radius: tuple[float, float] = (6.0, 10.0),
                       overlap: float = 0.5, closed_pores: int = 6, closed_radius: float = 2.0,
                       impurity_fraction: float = 0.0, seed: int = 0) -> SinteredVolume:
    """Random overlapping spheres added until the solid fraction reaches ``density``.

    ``overlap``: the largest allowed overlap of two particles as a fraction of the
    smaller radius (larger = thicker sintering necks).  Radii in voxels.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    grid = np.indices(shape, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    centres: list[np.ndarray] = []
    radii: list[float] = []
    target = density * labels.size
    solid, tries = 0, 0
    while solid < target and tries < 20_000:
        tries += 1
        r = rng.uniform(*radius)
        c = rng.uniform(0, 1, 3) * np.array(shape)
        if centres:
            d = np.linalg.norm(np.array(centres) - c, axis=1)
            if np.any(d < (np.array(radii) + r) - overlap * np.minimum(np.array(radii), r)):
                continue
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        d2 = sum((grid[i][box] - c[i]) ** 2 for i in range(3))
        inside = d2 <= r * r
        solid += int(np.count_nonzero(inside & (labels[box] == PORE)))
        labels[box][inside] = PHASE
        centres.append(c)
        radii.append(r)
    centres_a, radii_a = np.array(centres), np.array(radii)
    if impurity_fraction > 0:
        k = max(1, int(round(impurity_fraction * len(radii_a))))
        for i in rng.choice(len(radii_a), size=k, replace=False):
            c, r = centres_a[i], radii_a[i] * 0.6
            d2 = sum((grid[j] - c[j]) ** 2 for j in range(3))
            labels[(d2 <= r * r) & (labels == PHASE)] = IMPURITY
    # Closed pores: small voids well inside particles.
    for _ in range(closed_pores):
        i = rng.integers(len(radii_a))
        c, r = centres_a[i], radii_a[i]
        if r < 3 * closed_radius:
            continue
        p = c + rng.normal(0, 0.2 * r, 3)
        d2 = sum((grid[j] - p[j]) ** 2 for j in range(3))
        labels[d2 <= closed_radius**2] = PORE
    return SinteredVolume(labels, centres_a, radii_a)


@dataclass(frozen=True)
class FibSemSeries:
    image: np.ndarray  # (z, y, x) float32 grey levels in [0, 1]
    labels: np.ndarray  # the labels as imaged: each slice moved with its misalignment


def fib_sem_series(labels: np.ndarray, seed: int = 0, noise: float = 0.08, blur: float = 0.8,
                   curtaining: float = 0.06, drift: float = 0.04, misalignment: float = 0.5,
                   contrast: tuple[float, float, float] = (0.15, 0.75, 0.45)) -> FibSemSeries:
    """A FIB-SEM-like greyscale series of ``labels`` and the ground truth as imaged.

    contrast: grey level of pore, phase, impurity.  curtaining: amplitude of stripes
    constant along y (milling direction) varying in x; drift: slice-to-slice brightness
    change (random walk); misalignment: standard deviation of the slice shifts in
    pixels.  A slice shift moves the imaged structure, so the returned labels move
    with it (nearest neighbour): they are what a perfect segmentation of the series
    gives, before any slice registration.
    """
    rng = np.random.default_rng(seed)
    img = np.asarray(contrast, dtype=np.float32)[labels]
    img = artifacts.blur(img, blur)
    img = artifacts.curtaining(img, curtaining, rng)
    img = artifacts.drift(img, drift, rng)
    shifts = artifacts.slice_shifts(img.shape[0], misalignment, rng)
    img = artifacts.misalign(img, misalignment, rng, shifts=shifts)
    truth = artifacts.misalign(labels, misalignment, rng, shifts=shifts, order=0) if misalignment > 0 else labels
    img = artifacts.noise(img, noise, rng)
    return FibSemSeries(np.clip(img, 0, 1).astype(np.float32), truth.astype(labels.dtype))


def fib_sem_render(labels: np.ndarray, seed: int = 0, **kwargs) -> np.ndarray:
    """Greyscale float32 volume in [0, 1] that looks like a FIB-SEM series of ``labels``
    (see :func:`fib_sem_series` for the settings)."""
    return fib_sem_series(labels, seed, **kwargs).image
