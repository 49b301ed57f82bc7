"""The complete lines a JSON-lines state file gained since an offset (the journal, the history): a
line still being written, and the preallocated NUL padding after the content, are left for later.

It reads forward from the offset and stops at the first NUL byte (JSON text never holds one; the
journal preallocates its file in zeros), so a poll of an unchanged journal reads one small block,
not its padding."""

from __future__ import annotations

from pathlib import Path

FIRST_BLOCK = 1 << 16
BLOCK = 1 << 20


def appended_lines(path: Path, start: int) -> tuple[list[bytes], int]:
    """(the complete lines from byte `start` on, the offset just past the last of them); ([], start)
    when the file does not exist."""
    chunks = []
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            size = FIRST_BLOCK
            while block := fh.read(size):
                nul = block.find(b"\0")
                if nul >= 0:
                    chunks.append(block[:nul])
                    break
                chunks.append(block)
                size = BLOCK
    except FileNotFoundError:
        return [], start
    lines = b"".join(chunks).splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines.pop()
    return lines, start + sum(len(raw) for raw in lines)
