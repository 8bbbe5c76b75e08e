"""Writing a benchmark's result table."""

from __future__ import annotations

from pathlib import Path


def write_result(folder: Path, name: str, text: str) -> Path:
    """Print ``text`` and write it to ``folder``/NAME (``.md`` added where missing); returns the file's path."""
    print(text)
    folder.mkdir(exist_ok=True)
    path = folder / (name if name.endswith(".md") else name + ".md")
    path.write_text(text)
    print("wrote", path)
    return path
