"""The complete lines a JSON-lines state file gained since an offset (the journal, the history): a
line still being written, and the preallocated NUL padding after the content, are left for later."""

from __future__ import annotations

from pathlib import Path

from engine.store.fsio import content_end


def appended_lines(path: Path, start: int) -> tuple[list[bytes], int]:
    """(the complete lines from byte `start` on, the offset just past the last of them); ([], start)
    when the file does not exist."""
    try:
        with path.open("rb") as fh:
            end = content_end(fh)
            fh.seek(start)
            data = fh.read(max(0, end - start))
    except FileNotFoundError:
        return [], start
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines.pop()
    return lines, start + sum(len(raw) for raw in lines)
