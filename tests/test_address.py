import numpy as np
from collections import Counter
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from glyph_dist.fgt.address import (
    address_of, assign_addresses, barycentric_to_xy, common_prefix, is_address, square_to_barycentric,
    to_unit_square,
)
from tests.conftest import TEST_CLUSTERS

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(arrays(np.float64, st.tuples(st.integers(1, 60), st.just(2)), elements=finite))
def test_every_point_lands_inside_the_triangle(points):
    bary = square_to_barycentric(to_unit_square(points))
    assert np.all(bary > 0)
    assert np.allclose(bary.sum(axis=1), 1.0)


def _cell_contains(address: str, point: np.ndarray) -> bool:
    """Walk the address down from the unit triangle and test that the point is in the final cell."""
    corners = np.eye(3)
    for digit in address:
        mids = [(corners[i] + corners[j]) / 2 for i, j in ((1, 2), (0, 2), (0, 1))]  # opposite each corner
        if digit == "3":
            corners = np.stack(mids)
        else:
            k = int(digit)
            corners = np.stack([corners[k] if i == k else (corners[k] + corners[i]) / 2 for i in range(3)])
    weights = np.linalg.solve(corners.T, point)  # barycentric coordinates within the cell
    return bool(np.all(weights >= -1e-9))


@given(st.floats(0.001, 0.999), st.floats(0.001, 0.999))
def test_address_names_the_cell_that_holds_the_point(u, v):
    bary = square_to_barycentric(np.array([[u, v]]))[0]
    address = address_of(bary, 7)
    assert is_address(address, 7)
    assert _cell_contains(address, bary)


def test_addresses_on_a_real_tape(tape):
    depth = tape.meta["depth"]
    addresses = [r.address for r in tape.records]
    assert len(addresses) >= TEST_CLUSTERS * 0.9  # k-means may leave a few clusters empty
    assert all(is_address(a, depth) for a in addresses)
    assert max(Counter(addresses).values()) <= 0.05 * len(addresses)
    xy = np.array([[r.x, r.y] for r in tape.records])
    bary = np.linalg.solve(np.vstack([np.array([[0, 1, 0.5], [0, 0, np.sqrt(3) / 2]]), np.ones(3)]),
                           np.vstack([xy.T, np.ones(len(xy))])).T
    assert np.all(bary >= -1e-9), "every stored point lies inside the triangle"


def test_nearest_families_share_longer_prefixes_than_random_pairs(tape):
    similarity = tape.centroids @ tape.centroids.T
    np.fill_diagonal(similarity, -np.inf)
    neighbour = similarity.argmax(axis=1)
    addresses = [r.address for r in tape.records]
    near = np.mean([common_prefix(addresses[i], addresses[j]) for i, j in enumerate(neighbour)])
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(addresses), size=(5000, 2))
    far = np.mean([common_prefix(addresses[i], addresses[j]) for i, j in pairs if i != j])
    assert near > 2 * far


def test_addresses_are_deterministic_and_depth_configurable(tape):
    a, xy_a = assign_addresses(tape.centroids, depth=9)
    b, xy_b = assign_addresses(tape.centroids, depth=9)
    assert a == b and np.array_equal(xy_a, xy_b)
    assert all(len(x) == 9 for x in a)
    assert np.allclose(barycentric_to_xy(np.eye(3)), [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]])
