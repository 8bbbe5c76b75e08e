"""FIB-SEM measurement errors, applied to greyscale volumes (z, y, x).

Used twice: to render synthetic FIB-SEM series from known labels, and to
augment training patches of the segmentation network so that it learns to
ignore what the microscope adds.  z is the milling (slicing) direction; the
curtaining stripes run along y, as the ion beam mills from the top edge.
All functions take and return float32 arrays and a NumPy random generator.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def blur(img: np.ndarray, sigma: float, z_ratio: float = 0.3) -> np.ndarray:
    """Gaussian blur: ``sigma`` pixels in-plane, ``z_ratio * sigma`` across slices."""
    if sigma <= 0:
        return img
    return ndimage.gaussian_filter(img, sigma=(z_ratio * sigma, sigma, sigma)).astype(np.float32)


def curtaining(img: np.ndarray, amplitude: float, rng: np.random.Generator, width: float = 1.0) -> np.ndarray:
    """Vertical stripes: an offset constant along y, varying in x (and from slice to slice)."""
    if amplitude <= 0:
        return img
    nz, _, nx = img.shape
    stripes = ndimage.gaussian_filter1d(rng.normal(0, 1, (nz, nx)), width, axis=1)
    stripes *= amplitude / (stripes.std() + 1e-12)
    return img + stripes[:, None, :].astype(np.float32)


def drift(img: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness drift from slice to slice: a random walk whose spread over the stack is ``amplitude``."""
    nz = img.shape[0]
    if amplitude <= 0:
        return img
    walk = np.cumsum(rng.normal(0, amplitude / np.sqrt(max(nz, 1)) * 3, nz)).astype(np.float32)
    return img + walk[:, None, None]


def slice_shifts(nz: int, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Random in-plane offsets (nz, 2) in pixels, standard deviation ``sd``."""
    return rng.normal(0, sd, (nz, 2)) if sd > 0 else np.zeros((nz, 2))


def misalign(img: np.ndarray, sd: float, rng: np.random.Generator, shifts: np.ndarray | None = None,
             order: int = 1) -> np.ndarray:
    """Shift each slice in-plane by a random sub-pixel offset with standard deviation ``sd`` pixels
    (or by the given ``shifts``; ``order`` 0 for label volumes)."""
    if shifts is None:
        if sd <= 0:
            return img
        shifts = slice_shifts(img.shape[0], sd, rng)
    return np.stack([ndimage.shift(img[k], shifts[k], order=order, mode="nearest") for k in range(img.shape[0])])


def noise(img: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian detector noise."""
    if sd <= 0:
        return img
    return img + rng.normal(0, sd, img.shape).astype(np.float32)


def augment(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random FIB-SEM-like corruption of a normalised patch (z, y, x) for training.

    Each error is switched on with probability 0.5 and a random size up to
    ``strength`` times a typical value (in units of the patch's standard
    deviation): blur ≤ 1.2 px, curtaining ≤ 0.15, slice drift ≤ 0.2 (3D),
    misalignment ≤ 0.7 px (3D), noise ≤ 0.3, plus a random contrast (×0.8–1.2)
    and brightness offset (±0.2).
    """
    img = img.astype(np.float32, copy=True)
    on = rng.random(5) < 0.5
    if on[0]:
        img = blur(img, strength * rng.uniform(0.2, 1.2))
    if on[1]:
        img = curtaining(img, strength * rng.uniform(0, 0.15), rng)
    if on[2] and img.shape[0] > 1:
        img = drift(img, strength * rng.uniform(0, 0.2), rng)
    if on[3] and img.shape[0] > 1:
        img = misalign(img, strength * rng.uniform(0, 0.7), rng)
    if on[4]:
        img = noise(img, strength * rng.uniform(0, 0.3), rng)
    return img * rng.uniform(0.8, 1.2) + rng.uniform(-0.2, 0.2)
