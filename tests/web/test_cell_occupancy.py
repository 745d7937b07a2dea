"""The page's cell occupancy (api/web/js/cells.js) against numpy, in the browser.

Oracle: ``numpy.searchsorted(edges, v, side="right") - 1`` places each vehicle on the x/y edges and the
layers' bounds, and the counts are divided by the capacities, as docs/map-api.md defines the layer.
"""

from __future__ import annotations

import numpy as np
import pytest

REPLAY = "utm6g.replay.read"

OCCUPANCY = """async ({ grid, x, y, z, layer }) => {
  const { CellOccupancy } = await import('/web/js/cells.js');
  const vehicles = { n: x.length, x: Float64Array.from(x), y: Float64Array.from(y), z: Float64Array.from(z) };
  return Array.from(new CellOccupancy(grid).update(vehicles, layer));
}"""

LAYERS = [(30.0, 60.0), (60.0, 90.0), (90.0, 120.0), (150.0, 300.0)]  # a gap between 120 and 150 m


def expected(x_edges, y_edges, capacity, x, y, z, layer):
    """Occupancy / capacity per (i, j) (i * ny + j): the highest over layers (-1) or that of ``layer``."""
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    i = np.searchsorted(x_edges, x, side="right") - 1
    j = np.searchsorted(y_edges, y, side="right") - 1
    lower = np.array([lo for lo, _ in LAYERS])
    k = np.searchsorted(lower, z, side="right") - 1
    counts = np.zeros((nx, ny, len(LAYERS)))
    for a, b, c, height in zip(i, j, k, z, strict=True):
        if 0 <= a < nx and 0 <= b < ny and c >= 0 and height < LAYERS[c][1]:
            counts[a, b, c] += 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(counts > 0, counts / capacity, 0.0)
    ratio = ratio.max(axis=2) if layer < 0 else ratio[:, :, layer]
    return ratio.ravel()


@pytest.mark.parametrize("even", [True, False], ids=["even-edges", "uneven-edges"])
def test_occupancy_places_vehicles_as_numpy_does(map_page, server, mint, even):
    """Vehicles at random, exactly on edges, a hair either side, outside the grid and between layers are
    counted in the cells numpy finds, for evenly spaced (rounded, as the server sends them) and uneven
    edges."""
    rng = np.random.default_rng(11)
    if even:
        x_edges = np.linspace(-1000.0, 1000.0, 41).round(3)
        y_edges = np.linspace(-600.0, 900.0, 31).round(3)
    else:
        x_edges = np.concatenate([[-1000.0], np.sort(rng.uniform(-999.0, 999.0, 39)), [1000.0]])
        y_edges = np.concatenate([[-600.0], np.sort(rng.uniform(-599.0, 899.0, 29)), [900.0]])
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    capacity = rng.integers(0, 4, (nx, ny, len(LAYERS))).astype(float)
    n = 4000
    x = rng.uniform(-1100.0, 1100.0, n)
    y = rng.uniform(-700.0, 1000.0, n)
    x[:41], y[:41] = x_edges, rng.choice(y_edges, 41)  # exactly on edges
    x[41:82], x[82:123] = x_edges + 1e-9, x_edges - 1e-9
    z = rng.uniform(0.0, 320.0, n)
    grid = {
        "x_edges_m": x_edges.tolist(),
        "y_edges_m": y_edges.tolist(),
        "layers": [{"z_lower_m": lo, "z_upper_m": hi} for lo, hi in LAYERS],
        "capacity": capacity.tolist(),
    }
    map_page.open(f"{server.url}/#run=busy&token={mint('cells', REPLAY)}")
    for layer in (-1, 0, 3):
        got = map_page.js(
            OCCUPANCY, {"grid": grid, "x": x.tolist(), "y": y.tolist(), "z": z.tolist(), "layer": layer}
        )
        want = expected(x_edges, y_edges, capacity, x, y, z, layer)
        np.testing.assert_allclose(np.array(got, dtype=float), want, rtol=1e-6)
    assert not map_page.errors
