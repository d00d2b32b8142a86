"""DBoW2 ORB vocabularies: build one from images, write it, validate any file before ORB-SLAM3 sees it.

ORB-SLAM3 needs a DBoW2 vocabulary and the official ``ORBvoc.txt`` cannot be downloaded here, so we
build our own: ORB descriptors (OpenCV, ORB-SLAM3-like extractor settings) clustered by hierarchical
binary k-means (k-means++ seeding on Hamming distance, bit-majority centroids), idf leaf weights
floored above 0, written in DBoW2's text format::

    k L scoring weighting                         # header, e.g. "10 3 0 0" (TF-IDF, L1 score)
    parent_id is_leaf d0 d1 ... d31 weight        # one line per node, breadth-first, root not written

Node ids are implicit (line number, root = 0). ORB-SLAM3's loader is fussy: a bad header makes the
process exit, a parent id that is not an earlier node or more nodes than ``(k^(L+1)-1)/(k-1)``
corrupt memory (segfault), a word with weight 0 silently drops its features from BoW matching and a
trailing newline adds a junk node. :func:`validate_vocabulary` catches all of these.

>>> info = validate_vocabulary(default_vocabulary_path())
>>> (info.k, info.levels, info.n_words > 500)
(10, 3, True)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from umi_bench.errors import VocabularyError

logger = logging.getLogger(__name__)

DESCRIPTOR_BYTES = 32
IDF_FLOOR = 1e-3
"""Smallest leaf weight written: a word with weight 0 would drop its features from BoW matching."""
DEFAULT_VOCABULARY_NAME = "umi_default_k10_L3.txt"

# ORB-SLAM3 ORBextractor defaults (nFeatures 1000, scale 1.2, 8 levels, FAST 20, patch 31).
ORB_PARAMS = dict(nfeatures=1000, scaleFactor=1.2, nlevels=8, edgeThreshold=19, patchSize=31, fastThreshold=20)

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class Vocabulary:
    """A DBoW2 vocabulary tree in breadth-first order (root excluded).

    Attributes:
        k: branching factor.
        levels: depth L of the tree.
        parent (M,) int: parent node id of node i+1 (the root is node 0).
        is_leaf (M,) bool: node i+1 is a word.
        descriptor (M, 32) uint8: node centroid (ORB descriptor bytes).
        weight (M,) float: idf weight for leaves (> 0), 0 for inner nodes.
        scoring: DBoW2 scoring type (0 = L1 norm).
        weighting: DBoW2 weighting type (0 = TF-IDF).
    """

    k: int
    levels: int
    parent: np.ndarray
    is_leaf: np.ndarray
    descriptor: np.ndarray
    weight: np.ndarray
    scoring: int = 0
    weighting: int = 0

    @property
    def n_nodes(self) -> int:
        """Nodes without the root."""
        return int(self.parent.shape[0])

    @property
    def n_words(self) -> int:
        """Leaves (visual words)."""
        return int(self.is_leaf.sum())


@dataclass(frozen=True)
class VocabInfo:
    """What :func:`validate_vocabulary` found in a vocabulary file."""

    path: Path
    k: int
    levels: int
    scoring: int
    weighting: int
    n_nodes: int
    n_words: int
    size_bytes: int


def default_vocabulary_path() -> Path:
    """Path of the small vocabulary shipped with umi-bench (k=10, L=3, built from synthetic UMI frames)."""
    return Path(str(resources.files("umi_bench") / "data" / "vocab" / DEFAULT_VOCABULARY_NAME))


# --- descriptors -----------------------------------------------------------------------------------
def orb_descriptors(image_gray: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """ORB descriptors of one image with ORB-SLAM3-like extractor settings.

    Args:
        image_gray: (H, W) uint8 grayscale image.
        mask: optional (H, W) uint8, non-zero where features may be detected.

    Returns:
        (N, 32) uint8 descriptors (N may be 0).
    """
    import cv2

    orb = cv2.ORB_create(**ORB_PARAMS)
    _, desc = orb.detectAndCompute(image_gray, mask)
    if desc is None:
        return np.zeros((0, DESCRIPTOR_BYTES), dtype=np.uint8)
    return desc


def iter_frames(paths: Sequence[Path | str], max_frames_per_video: int = 60, width: int | None = 640) -> Iterable[np.ndarray]:
    """Grayscale frames from image files and/or MP4 videos (evenly subsampled), resized to ``width``.

    Args:
        paths: image files (png/jpg/...) or videos (mp4/mov/...).
        max_frames_per_video: frames taken per video, evenly spaced.
        width: resize so the image is this wide (keeping aspect); None keeps the size.

    Yields:
        (H, W) uint8 images.

    Raises:
        VocabularyError: a path is missing or cannot be decoded.
    """
    import cv2

    def _resize(img: np.ndarray) -> np.ndarray:
        if width is None or img.shape[1] == width:
            return img
        h = round(img.shape[0] * width / img.shape[1])
        return cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)

    for p in map(Path, paths):
        if not p.is_file():
            raise VocabularyError(f"{p}: frame source not found")
        if p.suffix.lower() in {".mp4", ".mov", ".avi", ".mkv", ".m4v"}:
            import av

            try:
                with av.open(str(p)) as container:
                    stream = container.streams.video[0]
                    n = stream.frames or 0
                    step = max(1, n // max_frames_per_video) if n else 1
                    taken = 0
                    for i, frame in enumerate(container.decode(stream)):
                        if i % step == 0 and taken < max_frames_per_video:
                            taken += 1
                            yield _resize(frame.to_ndarray(format="gray"))
            except (av.error.FFmpegError, IndexError) as e:
                raise VocabularyError(f"{p}: cannot decode video ({e})") from e
        else:
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise VocabularyError(f"{p}: cannot read image")
            yield _resize(img)


# --- binary k-means --------------------------------------------------------------------------------
def _hamming(desc: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Hamming distances (N, C) between (N, 32) and (C, 32) uint8 descriptors."""
    out = np.empty((desc.shape[0], centers.shape[0]), dtype=np.int32)
    for c in range(centers.shape[0]):
        out[:, c] = _POPCOUNT[np.bitwise_xor(desc, centers[c])].sum(axis=1, dtype=np.int32)
    return out


def _bit_majority(desc: np.ndarray) -> np.ndarray:
    """DBoW2 FORB::meanValue: bit i is set when at least half (rounded up) of the descriptors set it."""
    bits = np.unpackbits(desc, axis=1)
    n = desc.shape[0]
    majority = bits.sum(axis=0) >= (n // 2 + n % 2)
    return np.packbits(majority.astype(np.uint8))


def _kmeans(desc: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 20) -> list[np.ndarray]:
    """Binary k-means (k-means++ seeding, Hamming distance, bit-majority centroids).

    Returns:
        k index arrays (non-empty) into ``desc``; a cluster per descriptor when len(desc) <= k.
    """
    n = desc.shape[0]
    if n <= k:
        return [np.array([i]) for i in range(n)]
    # k-means++ seeding (DBoW2 initiateClustersKMpp)
    centers = [desc[rng.integers(n)]]
    d_min = _hamming(desc, centers[0][None])[:, 0].astype(np.float64)
    while len(centers) < k:
        p = d_min**2
        if p.sum() == 0:
            break
        idx = rng.choice(n, p=p / p.sum())
        centers.append(desc[idx])
        d_min = np.minimum(d_min, _hamming(desc, desc[idx][None])[:, 0])
    C = np.stack(centers)
    assign = None
    for _ in range(max_iter):
        new_assign = _hamming(desc, C).argmin(axis=1)
        if assign is not None and np.array_equal(new_assign, assign):
            break
        assign = new_assign
        C = np.stack([_bit_majority(desc[assign == c]) if np.any(assign == c) else C[c] for c in range(C.shape[0])])
    return [np.flatnonzero(assign == c) for c in range(C.shape[0]) if np.any(assign == c)]


def build_vocabulary(
    images: Iterable[np.ndarray],
    k: int = 10,
    levels: int = 3,
    seed: int = 0,
    max_descriptors: int = 200_000,
) -> Vocabulary:
    """Build a DBoW2 vocabulary (hierarchical binary k-means + idf weights) from grayscale images.

    Args:
        images: (H, W) uint8 grayscale images (or (H, W, 3) BGR, converted).
        k: branching factor, 2..20.
        levels: tree depth L, 1..10.
        seed: random seed for subsampling and k-means++.
        max_descriptors: descriptors used for clustering (random subset beyond that); idf weights
            use every descriptor.

    Returns:
        The vocabulary (write it with :func:`write_vocabulary`).

    Raises:
        VocabularyError: bad k/levels, or no ORB features in the images.
    """
    import cv2

    if not 2 <= k <= 20:
        raise VocabularyError(f"vocabulary branching factor k={k} must be in 2..20 (DBoW2 loader limit)")
    if not 1 <= levels <= 10:
        raise VocabularyError(f"vocabulary levels L={levels} must be in 1..10 (DBoW2 loader limit)")
    rng = np.random.default_rng(seed)
    per_image: list[np.ndarray] = []
    for img in images:
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        d = orb_descriptors(np.ascontiguousarray(img, dtype=np.uint8))
        if len(d):
            per_image.append(d)
    if not per_image:
        raise VocabularyError("no ORB features found in the vocabulary images (blank or too small?)")
    all_desc = np.concatenate(per_image)
    train = all_desc if len(all_desc) <= max_descriptors else all_desc[rng.choice(len(all_desc), max_descriptors, replace=False)]
    logger.info("vocabulary: %d images, %d descriptors (%d clustered), k=%d L=%d", len(per_image), len(all_desc), len(train), k, levels)

    # Breadth-first construction: queue of (node id, descriptor indices, depth).
    parent: list[int] = []
    descriptor: list[np.ndarray] = []
    is_leaf: list[bool] = []
    queue: list[tuple[int, np.ndarray, int]] = [(0, np.arange(len(train)), 0)]
    head = 0
    while head < len(queue):
        nid, idx, depth = queue[head]
        head += 1
        if depth >= levels:
            continue
        clusters = _kmeans(train[idx], k, rng)
        if nid != 0 and len(clusters) <= 1:
            # cannot split further: the node stays a leaf
            continue
        for members in clusters:
            sub = idx[members]
            parent.append(nid)
            descriptor.append(_bit_majority(train[sub]))
            is_leaf.append(True)
            child_id = len(parent)
            if depth + 1 < levels and len(sub) > 1:
                queue.append((child_id, sub, depth + 1))
        # children are appended in BFS order because the queue is processed FIFO
    parent_a = np.array(parent, dtype=np.int64)
    leaf = np.ones(len(parent_a), dtype=bool)
    leaf[parent_a[parent_a > 0] - 1] = False
    desc_a = np.stack(descriptor).astype(np.uint8)

    # idf weights: log(N_images / N_images containing the word), floored above 0
    word_nodes = np.flatnonzero(leaf) + 1
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parent_a, start=1):
        children.setdefault(int(p), []).append(i)
    n_docs = np.zeros(len(parent_a) + 1, dtype=np.int64)
    for d in per_image:
        words = _lookup_words(d, children, desc_a)
        n_docs[np.unique(words)] += 1
    weight = np.zeros(len(parent_a), dtype=np.float64)
    with np.errstate(divide="ignore"):
        idf = np.log(len(per_image) / np.maximum(n_docs[word_nodes], 1))
    weight[word_nodes - 1] = np.maximum(idf, IDF_FLOOR)
    return Vocabulary(k=k, levels=levels, parent=parent_a, is_leaf=leaf, descriptor=desc_a, weight=weight)


def _lookup_words(desc: np.ndarray, children: dict[int, list[int]], node_desc: np.ndarray) -> np.ndarray:
    """Leaf node id (N,) of each descriptor by greedy descent (DBoW2 transform)."""
    node = np.zeros(len(desc), dtype=np.int64)
    active = np.ones(len(desc), dtype=bool)
    while active.any():
        for nid in np.unique(node[active]):
            sel = np.flatnonzero(active & (node == nid))
            ch = children.get(int(nid))
            if not ch:
                active[sel] = False
                continue
            best = _hamming(desc[sel], node_desc[np.array(ch) - 1]).argmin(axis=1)
            node[sel] = np.array(ch)[best]
    return node


# --- text format -----------------------------------------------------------------------------------
def write_vocabulary(vocab: Vocabulary, path: Path | str) -> Path:
    """Write a vocabulary in DBoW2 text format (no trailing newline).

    Args:
        vocab: the vocabulary.
        path: output file; must end in ``.txt`` (ORB-SLAM3 reads only ``.txt`` as text).

    Returns:
        The path written.

    Raises:
        VocabularyError: the path does not end in ``.txt``.
    """
    path = Path(path)
    if path.suffix != ".txt":
        raise VocabularyError(f"{path}: a vocabulary file must end in .txt (ORB-SLAM3 reads only .txt as text)")
    lines = [f"{vocab.k} {vocab.levels} {vocab.scoring} {vocab.weighting}"]
    for p, leaf, d, w in zip(vocab.parent, vocab.is_leaf, vocab.descriptor, vocab.weight):
        wtxt = f"{w:.6g}" if leaf else "0"
        lines.append(f"{int(p)} {int(leaf)} " + " ".join(map(str, d.tolist())) + f" {wtxt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def validate_vocabulary(path: Path | str) -> VocabInfo:
    """Check a DBoW2 text vocabulary for everything that would crash, exit or silently cripple ORB-SLAM3.

    Checks: ``.txt`` suffix; header ``k L scoring weighting`` with 2<=k<=20, 1<=L<=10, 0<=scoring<=5,
    0<=weighting<=3; every node line has ``parent is_leaf`` + 32 bytes (0..255) + weight; parent ids
    refer to earlier nodes; node count within the loader's reserve ``(k^(L+1)-1)/(k-1)``; the leaf
    flag matches "has no children"; leaf weights finite and > 0; no blank (junk) lines.

    Works on the official ORBvoc.txt (~1M lines, a few seconds) as well as on our own.

    Args:
        path: the vocabulary file.

    Returns:
        A :class:`VocabInfo`.

    Raises:
        VocabularyError: naming the file and 1-based line of the first problem.
    """
    path = Path(path)
    if path.suffix != ".txt":
        raise VocabularyError(f"{path}: vocabulary file must end in .txt (ORB-SLAM3 only reads .txt as text)")
    if not path.is_file():
        raise VocabularyError(f"{path}: vocabulary file not found")
    try:
        text = path.read_text(encoding="ascii")
    except (UnicodeDecodeError, OSError) as e:
        raise VocabularyError(f"{path}: not an ASCII text vocabulary ({e})") from e
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1].strip() == "":
        raise VocabularyError(f"{path}:{len(lines)}: trailing newline (ORB-SLAM3 would read it as a junk node; "
                              "in a full tree that node overflows the loader's reserve and corrupts memory)")
    head = lines[0].split()
    if len(head) != 4 or not all(_is_int(h) for h in head):
        raise VocabularyError(f"{path}:1: header must be 'k L scoring weighting' (four integers), got {lines[0][:60]!r}")
    k, L, scoring, weighting = map(int, head)
    for name, v, lo, hi in (("k", k, 2, 20), ("L", L, 1, 10), ("scoring", scoring, 0, 5), ("weighting", weighting, 0, 3)):
        if not lo <= v <= hi:
            raise VocabularyError(f"{path}:1: header {name}={v} out of range {lo}..{hi}")
    body = lines[1:]
    if not body or (len(body) == 1 and body[0] == ""):
        raise VocabularyError(f"{path}: no nodes after the header")
    max_nodes = (k ** (L + 1) - 1) // (k - 1) - 1  # loader reserve minus the root; beyond it pointers dangle
    if len(body) > max_nodes:
        raise VocabularyError(f"{path}: {len(body)} nodes exceed the {max_nodes} a k={k} L={L} tree can hold (ORB-SLAM3 would corrupt memory)")
    n = len(body)
    parent = np.empty(n, dtype=np.int64)
    leaf_flag = np.empty(n, dtype=bool)
    weight = np.empty(n, dtype=np.float64)
    for i, line in enumerate(body):
        lineno = i + 2
        if line.strip() == "":
            where = "trailing newline" if i == n - 1 else "blank line"
            raise VocabularyError(f"{path}:{lineno}: {where} (ORB-SLAM3 would read it as a junk node)")
        parts = line.split()
        if len(parts) != DESCRIPTOR_BYTES + 3:
            raise VocabularyError(f"{path}:{lineno}: node line has {len(parts)} fields, expected {DESCRIPTOR_BYTES + 3} (parent is_leaf 32 bytes weight)")
        if not (_is_int(parts[0]) and _is_int(parts[1])):
            raise VocabularyError(f"{path}:{lineno}: parent id and leaf flag must be integers")
        p, lf = int(parts[0]), int(parts[1])
        if not 0 <= p <= i:
            raise VocabularyError(f"{path}:{lineno}: parent id {p} is not an earlier node (0..{i})")
        if lf not in (0, 1):
            raise VocabularyError(f"{path}:{lineno}: leaf flag {lf} must be 0 or 1")
        for b in parts[2 : 2 + DESCRIPTOR_BYTES]:
            if not _is_int(b) or not 0 <= int(b) <= 255:
                raise VocabularyError(f"{path}:{lineno}: descriptor byte {b!r} is not an integer in 0..255")
        try:
            w = float(parts[-1])
        except ValueError:
            raise VocabularyError(f"{path}:{lineno}: weight {parts[-1]!r} is not a number") from None
        parent[i], leaf_flag[i], weight[i] = p, bool(lf), w
    has_children = np.zeros(n + 1, dtype=bool)
    has_children[parent] = True
    if not has_children[0]:
        raise VocabularyError(f"{path}: the root has no children")
    for i in range(n):
        lineno = i + 2
        if leaf_flag[i] == has_children[i + 1]:
            what = "is flagged leaf but has children" if leaf_flag[i] else "is flagged inner but has no children"
            raise VocabularyError(f"{path}:{lineno}: node {i + 1} {what}")
        if leaf_flag[i] and not (math.isfinite(weight[i]) and weight[i] > 0):
            raise VocabularyError(f"{path}:{lineno}: word weight {weight[i]} must be finite and > 0 (a 0 weight silently drops features)")
    return VocabInfo(path=path, k=k, levels=L, scoring=scoring, weighting=weighting, n_nodes=n, n_words=int(leaf_flag.sum()), size_bytes=path.stat().st_size)


def _is_int(s: str) -> bool:
    return s.isdigit() or (s[:1] == "-" and s[1:].isdigit())


def build_and_write_vocabulary(frames: Sequence[Path | str], out: Path | str, k: int = 10, levels: int = 3, seed: int = 0,
                               max_frames_per_video: int = 100) -> VocabInfo:
    """Build a vocabulary from image files and/or videos, write it to ``out`` and validate it.

    Args:
        frames: image files or videos (see :func:`iter_frames`).
        out: output ``.txt``.
        k, levels, seed: see :func:`build_vocabulary`.
        max_frames_per_video: frames sampled evenly from each video.

    Returns:
        The written file's :class:`VocabInfo`.
    """
    vocab = build_vocabulary(iter_frames(frames, max_frames_per_video=max_frames_per_video), k=k, levels=levels, seed=seed)
    return validate_vocabulary(write_vocabulary(vocab, out))
