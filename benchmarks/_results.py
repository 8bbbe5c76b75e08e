"""Writing a benchmark's result table."""

from __future__ import annotations

import statistics
from pathlib import Path


def write_result(folder: Path, name: str, text: str) -> Path:
    """Print ``text`` and write it to ``folder``/NAME (``.md`` added where missing); returns the file's path."""
    print(text)
    folder.mkdir(exist_ok=True)
    path = folder / (name if name.endswith(".md") else name + ".md")
    path.write_text(text)
    print("wrote", path)
    return path


def speedup(reference: list[float], times: list[float], paired_from: int = 0) -> str:
    """The ratio of the shortest ``reference`` time to the shortest of ``times``, then in brackets the median and
    range of the ratios of the timings taken side by side (round-robin rounds, from index ``paired_from`` on)."""
    text = f"{min(reference) / min(times):.1f}×"
    pairs = sorted(e / w for e, w in zip(reference[paired_from:], times[paired_from:], strict=True))
    return text + (f" ({statistics.median(pairs):.1f}×, {pairs[0]:.1f}–{pairs[-1]:.1f}×)" if pairs else "")
