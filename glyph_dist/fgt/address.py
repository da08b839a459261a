"""Fractal addresses: family centroids placed inside a recursively subdivided triangle.

Centroids are projected to 2-D (PCA, or UMAP when installed), each axis is replaced by its rank so
points spread evenly over the unit square, and the square is mapped onto the triangle by an
area-preserving map, so every point lies inside the triangle and every cell of a subdivision gets
its share. The triangle is split into four at each level (three corners and the inverted middle):
an address is the path of child digits, so nearby families share long prefixes.
"""

from __future__ import annotations

import numpy as np

from glyph_dist.errors import GlyphDistError

ADDRESS_DIGITS = "0123"  # children: 0, 1, 2 = corner at vertex A, B, C; 3 = inverted middle
VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])


def project_2d(centroids: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the centroids."""
    if method == "pca":
        centred = centroids - centroids.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        return centred @ components[:2].T
    if method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise GlyphDistError("projection 'umap' needs the umap-learn package (pip install umap-learn)") from exc
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(centroids)
    raise GlyphDistError(f"unknown projection {method!r}: use 'pca' or 'umap'")


def to_unit_square(points: np.ndarray) -> np.ndarray:
    """Rank-normalise each axis into the open interval (0, 1)."""
    n = len(points)
    ranks = np.argsort(np.argsort(points, axis=0, kind="stable"), axis=0, kind="stable")
    return (ranks + 0.5) / n


def square_to_barycentric(uv: np.ndarray) -> np.ndarray:
    """Area-preserving map of the unit square onto the triangle, in barycentric coordinates."""
    root = np.sqrt(uv[:, 0])
    return np.stack([1.0 - root, root * (1.0 - uv[:, 1]), root * uv[:, 1]], axis=1)


def barycentric_to_xy(bary: np.ndarray) -> np.ndarray:
    return bary @ VERTICES


def address_of(bary: np.ndarray, depth: int) -> str:
    """The subdivision path of one point given in barycentric coordinates."""
    a, b, c = (float(x) for x in bary)
    digits = []
    for _ in range(depth):
        if a >= 0.5:
            digits.append("0"); a, b, c = 2 * a - 1, 2 * b, 2 * c
        elif b >= 0.5:
            digits.append("1"); a, b, c = 2 * a, 2 * b - 1, 2 * c
        elif c >= 0.5:
            digits.append("2"); a, b, c = 2 * a, 2 * b, 2 * c - 1
        else:
            digits.append("3"); a, b, c = 1 - 2 * a, 1 - 2 * b, 1 - 2 * c
    return "".join(digits)


def is_address(address: str, depth: int) -> bool:
    return len(address) == depth and all(d in ADDRESS_DIGITS for d in address)


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def assign_addresses(centroids: np.ndarray, depth: int = 6, method: str = "pca",
                     seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(address, x-y point inside the triangle) of every centroid."""
    if depth < 1:
        raise GlyphDistError(f"address depth must be at least 1, got {depth}")
    bary = square_to_barycentric(to_unit_square(project_2d(centroids, method, seed)))
    return [address_of(p, depth) for p in bary], barycentric_to_xy(bary)
