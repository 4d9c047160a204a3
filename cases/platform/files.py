"""Files the service writes under its data dir (rendered documents, evidence)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all: written to a temporary sibling, synced, then renamed
    over ``path`` (a reader never sees half a file; a crash leaves at most a stray ``.tmp``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
