"""The torch device a user asks for (``--device``, ``solver.device``), with a clear error when it is absent;
the CPU heap setting for grid solvers (:func:`retain_freed_memory`)."""

from __future__ import annotations

import ctypes
import os
import sys

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


# glibc's mallopt parameters; the mmap threshold is an int, and older glibc refuses more than 32 MiB on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLDS = (2**31 - 1, 32 * 2**20)
_RETAINED: list[bool] = []


def retain_freed_memory() -> bool:
    """Keep freed CPU memory in the process's heap (Linux with glibc; once per process).

    A time step on the CPU allocates and frees many full-grid temporaries (2 MiB each at 512², float64;
    16 MiB at 128³, and a multiple of that for stacks of fields).  By default glibc maps blocks that large afresh
    and trims the heap's free top, so each step page-faults its temporaries in again; with the mmap threshold
    raised to 2 GiB (32 MiB where glibc refuses more) and trimming off, freed blocks are reused
    (``python -m benchmarks.sinter_heap`` times the solvers' steps both ways).  The cost: the process keeps its
    peak heap until it exits.  Called by :class:`datarial.sinter.solver.Simulation` for CPU runs; the
    environment variable ``DATARIAL_RETAIN_HEAP=0`` turns it off.  Returns whether the setting is in force.
    """
    if _RETAINED:
        return _RETAINED[0]
    ok = False
    if os.environ.get("DATARIAL_RETAIN_HEAP", "1").strip() not in ("0", "no", "false") and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
            mallopt = None
        if mallopt is not None:
            ok = (any(mallopt(_M_MMAP_THRESHOLD, size) for size in _MMAP_THRESHOLDS)
                  and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)))
    _RETAINED.append(ok)
    return ok
