"""The torch device a user asks for (``--device``, ``solver.device``), with a clear error when it is absent."""

from __future__ import annotations

import torch

from datarial.errors import DatarialError


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (a GPU when there is one)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DatarialError(f"--device {name}: no CUDA GPU is available here (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DatarialError(f"--device: unknown device {name!r} (cpu, cuda, cuda:N or auto)") from None
