"""Microstructure: volumes (I/O), 3D quantification, synthetic sintered volumes.

Needs the ``[micro]`` extra (``pip install -e .[micro]``): tifffile, zarr,
h5py, scikit-image, edt, numba, MONAI.  Lengths are metres inside; tables state µm.
"""

from __future__ import annotations

import importlib

from datarial.errors import DatarialError


def need(module: str, extra: str = "micro"):
    """Import an optional dependency, or fail with the install command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DatarialError(f"this needs the optional package '{module}': pip install -e .[{extra}]") from None
