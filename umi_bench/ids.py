"""Content hashes, stable episode ids and deterministic splits.

Episode ids are derived from the source content and the segment index, never from row numbers, so the
same recording always gets the same ids.

>>> episode_id("0" * 64, 2)
'ep_c89ef60219d2e1dc'
>>> split_for("ep_c89ef60219d2e1dc") in {"train", "val", "test"}
True
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_files(paths: Iterable[str | Path]) -> str:
    """SHA-256 over several files (sorted by relative name, name and content both hashed)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """SHA-256 hex digest of bytes."""
    return hashlib.sha256(data).hexdigest()


def episode_id(source_sha256: str, segment_index: int) -> str:
    """Stable episode id from the source content hash and the segment (demo) index."""
    return "ep_" + hashlib.sha256(f"{source_sha256}:{segment_index}".encode()).hexdigest()[:16]


def split_for(episode_id: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """Deterministic train/val/test split from the episode id."""
    u = int(hashlib.sha256(episode_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"
