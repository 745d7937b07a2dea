"""Cell grid: cell_of and cells_of_volume against brute-force shapely boxes; capacity, blocking, errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from airspace.cells import DEFAULT_LAYERS, CellGrid, Layer
from airspace.errors import InvalidRegion
from airspace.geofences import Applicability, Geofence, Restriction
from airspace.volumes import Circle, Volume3D

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def brute_cell(grid: CellGrid, x_m: float, y_m: float, z_m: float) -> tuple[int, int, int] | None:
    """Oracle: the closed shapely boxes holding the point, ties to the highest index; None when none."""
    s = grid.cell_size_m
    x0, y0, _, _ = grid.bounds_xy_m
    point = Point(x_m, y_m)
    hits = [
        (i, j)
        for i in range(grid.nx)
        for j in range(grid.ny)
        if shapely.box(x0 + i * s, y0 + j * s, x0 + (i + 1) * s, y0 + (j + 1) * s).intersects(point)
    ]
    layers = [k for k, lay in enumerate(grid.layers) if lay.z_lower_m <= z_m <= lay.z_upper_m]
    if not hits or not layers:
        return None
    return max(i for i, _ in hits), max(j for _, j in hits), max(layers)


def brute_cells_of_volume(grid: CellGrid, volume: Volume3D) -> set[tuple[int, int, int]]:
    """Oracle: every closed box the outline meets (circles by centre distance) x closed height overlap."""
    s = grid.cell_size_m
    x0, y0, _, _ = grid.bounds_xy_m
    out = set()
    for i in range(grid.nx):
        for j in range(grid.ny):
            box = shapely.box(x0 + i * s, y0 + j * s, x0 + (i + 1) * s, y0 + (j + 1) * s)
            o = volume.outline
            if isinstance(o, Circle):
                meets = shapely.distance(Point(o.center_x_m, o.center_y_m), box) <= o.radius_m
            else:
                meets = o.intersects(box)
            if meets:
                out |= {
                    (i, j, k)
                    for k, lay in enumerate(grid.layers)
                    if lay.z_lower_m <= volume.z_upper_m and volume.z_lower_m <= lay.z_upper_m
                }
    return out


def zone(ident: str, volume: Volume3D, restriction=Restriction.PROHIBITED, applicability=()) -> Geofence:
    return Geofence(identifier=ident, restriction=restriction, volumes=(volume,), applicability=applicability)


@pytest.mark.parametrize(
    ("x_min_m", "y_min_m", "cell_size_m"),
    [(-1000.0, 250.0, 250.0), (0.1, -0.7, 0.3), (12.345, 6.789, 500.0)],
)
def test_cell_of_matches_brute_force_boxes_including_edges(x_min_m, y_min_m, cell_size_m):
    """Oracle: shapely closed boxes; points on shared edges go east/north/up, the outer edges stay inside."""
    grid = CellGrid(x_min_m=x_min_m, y_min_m=y_min_m, nx=7, ny=5, cell_size_m=cell_size_m)
    rng = np.random.default_rng(7)
    x_edges = x_min_m + np.arange(8) * cell_size_m
    y_edges = y_min_m + np.arange(6) * cell_size_m
    z_edges = np.array([b for lay in DEFAULT_LAYERS for b in (lay.z_lower_m, lay.z_upper_m)])
    n = 300
    x = rng.uniform(x_edges[0] - cell_size_m, x_edges[-1] + cell_size_m, n)
    y = rng.uniform(y_edges[0] - cell_size_m, y_edges[-1] + cell_size_m, n)
    z = rng.uniform(0.0, 500.0, n)
    on_edge = rng.random(n) < 0.5  # half the points exactly on (or one ulp beside) a grid line or layer bound
    x = np.where(on_edge, rng.choice(x_edges, n), x)
    y = np.where(rng.random(n) < 0.5, rng.choice(y_edges, n), y)
    z = np.where(rng.random(n) < 0.5, rng.choice(z_edges, n), z)
    nudge = rng.choice([-np.inf, 0.0, np.inf], n)
    x = np.where(rng.random(n) < 0.3, np.nextafter(x, nudge), x)
    inside = grid.contains(x, y, z)
    expected = [brute_cell(grid, *p) for p in zip(x, y, z, strict=True)]
    assert inside.tolist() == [e is not None for e in expected]
    assert 0.3 < inside.mean() < 0.9
    got = grid.cell_of(x[inside], y[inside], z[inside])
    assert got.dtype == np.int64
    assert [tuple(c) for c in got.tolist()] == [e for e in expected if e is not None]
    assert [grid.cell_at(*p) for p in zip(x.tolist(), y.tolist(), z.tolist(), strict=True)] == expected


def test_cell_of_boundaries_documented_side():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
    points = np.array([[500.0, 500.0, 60.0], [1000.0, 1000.0, 120.0], [0.0, 0.0, 30.0], [499.9, 0.0, 150.0]])
    assert grid.cell_of(*points.T).tolist() == [[1, 1, 1], [1, 1, 2], [0, 0, 0], [0, 0, 3]]


def test_cell_of_broadcasts():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=4, ny=4)
    out = grid.cell_of(
        np.array([[100.0], [600.0], [1100.0]]), np.array([[100.0, 600.0, 1100.0, 1600.0]]), 200.0
    )
    assert out.shape == (3, 4, 3)
    assert out[2, 3].tolist() == [2, 3, 3]
    assert grid.cell_of(10.0, 10.0, 40.0).shape == (3,)


@pytest.mark.parametrize(
    ("x", "y", "z"),
    [
        (-0.001, 10.0, 40.0),
        (10.0, 1000.5, 40.0),
        (10.0, 10.0, 135.0),
        (10.0, 10.0, 29.9),
        (10.0, 10.0, 450.1),
        (math.nan, 10.0, 40.0),
        (10.0, 10.0, math.nan),
        (math.inf, 10.0, 40.0),
    ],
)
def test_cell_of_outside_grid_or_layers_raises_never_a_sentinel(x, y, z):
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
    assert not grid.contains(x, y, z)
    assert grid.cell_at(x, y, z) is None
    with pytest.raises(InvalidRegion, match=r"^point: outside the grid \[0, 1000\] x \[0, 1000\] m") as err:
        grid.cell_of(x, y, z)
    assert err.value.field == "point"
    with pytest.raises(InvalidRegion, match=r"^point\[1\]: .*filter with CellGrid.contains"):
        grid.cell_of([10.0, x], [10.0, y], [40.0, z])


def test_cell_box_and_center():
    grid = CellGrid(x_min_m=-500.0, y_min_m=100.0, nx=3, ny=2, cell_size_m=200.0)
    assert grid.cell_box(1, 1).equals(shapely.box(-300.0, 300.0, -100.0, 500.0))
    boxes = grid.cell_box([0, 2], 0)
    assert boxes.shape == (2,)
    assert boxes[1].bounds == (-100.0, 100.0, 100.0, 300.0)
    x, y = grid.cell_center(np.arange(3), 1)
    assert x.tolist() == [-400.0, -200.0, 0.0]
    assert y.tolist() == [400.0, 400.0, 400.0]


def test_column_centres_are_the_cell_centres_and_refuse_columns_outside():
    """Oracle: :meth:`CellGrid.cell_center` of every column, one by one."""
    grid = CellGrid(x_min_m=-512.3, y_min_m=100.7, nx=5, ny=4, cell_size_m=123.4)
    columns = [(i, j) for i in range(5) for j in range(4)]
    assert grid.column_centres(columns) == [tuple(map(float, grid.cell_center(i, j))) for i, j in columns]
    assert grid.column_centres([]) == []
    for outside in ((-1, 0), (5, 0), (0, 4), (0, -1)):
        with pytest.raises(IndexError, match="cell indices must lie in"):
            grid.column_centres([(0, 0), outside])


@pytest.mark.parametrize(("i", "j"), [(-1, 0), (3, 0), (0, 2), (0.0, 0), ([0, 5], 0), (True, 0)])
def test_cell_indices_out_of_range_raise_index_error(i, j):
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=2)
    with pytest.raises(IndexError, match=r"^[ij]: cell indices must"):
        grid.cell_box(i, j)
    with pytest.raises(IndexError):
        grid.cell_center(i, j)
    with pytest.raises(IndexError):
        grid.capacity(i, j, 0)


def test_cells_of_volume_matches_brute_force_polygons_and_circles():
    """Oracle: every cell box tested with shapely (circles by exact centre distance), closed layers."""
    grid = CellGrid(x_min_m=-1000.0, y_min_m=-500.0, nx=8, ny=6, cell_size_m=250.0)
    rng = np.random.default_rng(11)
    z_bands = [
        (0.0, 30.0),
        (55.0, 95.0),
        (120.0, 150.0),
        (125.0, 145.0),
        (-math.inf, math.inf),
        (450.0, 900.0),
    ]
    for n in range(60):
        lo, hi = z_bands[n % len(z_bands)]
        cx, cy = rng.uniform(-1400.0, 1400.0), rng.uniform(-900.0, 1400.0)
        if n % 2:
            volume = Volume3D.circle(cx, cy, rng.uniform(0.0, 400.0), z_lower_m=lo, z_upper_m=hi)
        else:
            hull = shapely.MultiPoint(rng.normal([cx, cy], 250.0, (6, 2))).convex_hull
            volume = Volume3D.polygon(np.asarray(hull.exterior.coords)[:-1], z_lower_m=lo, z_upper_m=hi)
        got = grid.cells_of_volume(volume)
        assert got.shape[1] == 3 and got.dtype == np.int64
        assert got.tolist() == sorted(got.tolist())
        assert {tuple(c) for c in got.tolist()} == brute_cells_of_volume(grid, volume)


def test_cells_of_volume_circle_whose_box_touches_a_cell_but_disc_does_not():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=3, layers=[Layer("a", 0.0, 100.0)])
    disc = Volume3D.circle(700.0, 700.0, 250.0, z_lower_m=0.0, z_upper_m=50.0)  # box reaches (450, 450)
    got = {tuple(c) for c in grid.cells_of_volume(disc).tolist()}
    assert (0, 0, 0) not in got
    assert got == {(1, 1, 0), (0, 1, 0), (1, 0, 0)}
    assert got == brute_cells_of_volume(grid, disc)


def test_cells_of_volume_closed_edges_and_heights():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=1)
    edge = Volume3D.polygon([(100.0, 100.0), (500.0, 100.0), (500.0, 200.0)], z_lower_m=0.0, z_upper_m=30.0)
    assert grid.cells_of_volume(edge).tolist() == [[0, 0, 0], [1, 0, 0]]  # touching x = 500 and z = 30 count
    gap = Volume3D.circle(100.0, 100.0, 50.0, z_lower_m=121.0, z_upper_m=149.0)
    assert grid.cells_of_volume(gap).shape == (0, 3)
    away = Volume3D.circle(-100.0, 100.0, 99.0, z_lower_m=0.0, z_upper_m=1000.0)
    assert grid.cells_of_volume(away).shape == (0, 3)
    touching = Volume3D.circle(-100.0, 100.0, 100.0, z_lower_m=0.0, z_upper_m=1000.0)
    assert grid.cells_of_volume(touching).tolist() == [[0, 0, k] for k in range(5)]


def test_capacity_default_region_and_per_cell_overrides():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=3, ny=2)
    assert grid.capacity(0, 0, 0) == 10
    region = CellGrid(
        x_min_m=0.0, y_min_m=0.0, nx=3, ny=2, capacity=4, capacity_overrides={(2, 1, 4): 0, (0, 1, 1): 25}
    )
    assert region.capacity(2, 1, 4) == 0
    assert region.capacity(0, 1, 1) == 25
    assert isinstance(region.capacity(0, 0, 0), int)
    i, j, k = np.indices(region.shape)
    table = region.capacity(i, j, k)
    assert table.shape == (3, 2, 5)
    assert (table == 4).sum() == 28
    assert region.capacity([2, 0, 1], [1, 1, 1], [4, 1, 1]).tolist() == [0, 25, 4]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"nx": 0}, "nx"),
        ({"ny": -2}, "ny"),
        ({"nx": 2.0}, "nx"),
        ({"nx": True}, "nx"),
        ({"cell_size_m": 0.0}, "cell_size_m"),
        ({"cell_size_m": -5.0}, "cell_size_m"),
        ({"cell_size_m": math.nan}, "cell_size_m"),
        ({"x_min_m": math.inf}, "x_min_m"),
        ({"y_min_m": math.nan}, "y_min_m"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"capacity_overrides": {(0, 0, 0): -1}}, "capacity_overrides[(0, 0, 0)]"),
        ({"capacity_overrides": {(0, 0, 5): 3}}, "capacity_overrides[(0, 0, 5)]"),
        ({"capacity_overrides": {(2, 0, 0): 3}}, "capacity_overrides[(2, 0, 0)]"),
        ({"capacity_overrides": {(-1, 0, 0): 3}}, "capacity_overrides[(-1, 0, 0)]"),
        ({"capacity_overrides": {(0, 0): 3}}, "capacity_overrides[(0, 0)]"),
        ({"capacity_overrides": {(0, 0, 0.5): 3}}, "capacity_overrides[(0, 0, 0.5)]"),
        ({"layers": []}, "layers"),
        ({"layers": [("a", 0.0, 1.0)]}, "layers[0]"),
        ({"layers": [Layer("", 0.0, 10.0)]}, "layers[0].name"),
        ({"layers": [Layer("a", 10.0, 10.0)]}, "layers[0]"),
        ({"layers": [Layer("a", 0.0, math.inf)]}, "layers[0]"),
        ({"layers": [Layer("a", 0.0, 50.0), Layer("b", 40.0, 90.0)]}, "layers[1]"),
        ({"layers": [Layer("a", 60.0, 90.0), Layer("b", 0.0, 30.0)]}, "layers[1]"),
        ({"layers": [Layer("a", 0.0, 30.0), Layer("a", 30.0, 60.0)]}, "layers[1].name"),
    ],
)
def test_bad_grid_arguments_raise_invalid_region(kwargs, field):
    args = {"x_min_m": 0.0, "y_min_m": 0.0, "nx": 2, "ny": 1} | kwargs
    with pytest.raises(InvalidRegion) as err:
        CellGrid(**args)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_layer_index_by_name_or_index_and_unknown_lists_valid():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=1, ny=1)
    assert grid.layer_index("d60-90") == 1
    assert grid.layer_index(4) == 4
    for bad in ("d0-30", 5, -1, True):
        with pytest.raises(
            InvalidRegion, match=r"^layer: unknown layer .*valid: d30-60, d60-90, d90-120, e150-300"
        ):
            grid.layer_index(bad)


def test_default_layers_drones_below_120_m_evtol_above():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=1, ny=1)
    assert grid.layers == DEFAULT_LAYERS
    drones = [lay for lay in DEFAULT_LAYERS if lay.name.startswith("d")]
    evtol = [lay for lay in DEFAULT_LAYERS if lay.name.startswith("e")]
    assert drones and evtol and max(lay.z_upper_m for lay in drones) <= 120.0
    assert min(lay.z_lower_m for lay in evtol) >= 150.0


def test_blocked_at_permanent_and_time_windowed_prohibited_zones():
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=6, ny=6)
    permanent = zone("P1", Volume3D.circle(700.0, 700.0, 300.0, z_lower_m=0.0, z_upper_m=60.0))
    later = zone(
        "P2",
        Volume3D.polygon([(2000, 2000), (2900, 2000), (2900, 2900)], z_lower_m=0.0, z_upper_m=1000.0),
        applicability=(Applicability(T0 + timedelta(hours=1), T0 + timedelta(hours=2), schedules=()),),
    )
    authorised = zone(
        "A1",
        Volume3D.circle(2500.0, 500.0, 400.0, z_lower_m=0.0, z_upper_m=500.0),
        Restriction.REQ_AUTHORISATION,
    )
    conditional = zone(
        "C1", Volume3D.circle(500.0, 2500.0, 400.0, z_lower_m=0.0, z_upper_m=500.0), Restriction.CONDITIONAL
    )
    zones = [permanent, later, authorised, conditional]

    def mask(*geofences: Geofence) -> np.ndarray:
        out = np.zeros(grid.shape, dtype=bool)
        for g in geofences:
            for v in g.volumes:
                for i, j, k in brute_cells_of_volume(grid, v):
                    out[i, j, k] = True
        return out

    now = grid.blocked_at(zones, T0)
    assert now.shape == (6, 6, 5) and now.dtype == bool
    assert np.array_equal(now, mask(permanent))
    assert now[:, :, 0].any() and now[:, :, 1].any() and not now[:, :, 2].any()  # 0-60 m touches d60-90
    assert np.array_equal(grid.blocked_at(zones, T0 + timedelta(minutes=90)), mask(permanent, later))
    assert np.array_equal(
        grid.blocked_at(zones, T0, T0 + timedelta(hours=1)), mask(permanent, later)
    )  # closed
    assert np.array_equal(grid.blocked_at(zones, T0, T0 + timedelta(minutes=59)), mask(permanent))
    assert np.array_equal(grid.blocked_at(zones, T0 + timedelta(hours=2, seconds=1)), mask(permanent))
    assert not grid.blocked_at([authorised, conditional], T0).any()


def _mixed_volumes(grid: CellGrid, rng: np.random.Generator, n: int) -> list[Volume3D]:
    """Rotated corridors, circles, boxes and L shapes, often exactly on grid lines and layer bounds."""
    x0, y0, x1, y1 = grid.bounds_xy_m
    edges = [x0 + i * grid.cell_size_m for i in range(grid.nx + 1)]

    def snap(v: float) -> float:
        return float(rng.choice(edges)) if rng.random() < 0.3 else v

    out = []
    for k in range(n):
        lo = float(rng.choice([0.0, 30.0, 59.0, 60.0, 125.0, -math.inf]))
        z = {"z_lower_m": lo, "z_upper_m": max(lo, 0.0) + float(rng.choice([1.0, 30.0, math.inf]))}
        cx, cy = snap(rng.uniform(x0 - 300, x1 + 300)), snap(rng.uniform(y0 - 300, y1 + 300))
        if k % 4 == 0:
            out.append(Volume3D.circle(cx, cy, float(rng.choice([0.0, 125.0, rng.uniform(0, 400)])), **z))
        elif k % 4 == 1:
            a, length, half = rng.uniform(0, 2 * np.pi), rng.uniform(10, 500), rng.uniform(5, 60)
            u, w = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)]) * half
            c = np.array([cx, cy])
            out.append(Volume3D.polygon([c + w, c + length * u + w, c + length * u - w, c - w], **z))
        elif k % 4 == 2:
            size = rng.uniform(1, 600)
            out.append(
                Volume3D.polygon([(cx, cy), (cx + size, cy), (cx + size, cy + size), (cx, cy + size)], **z)
            )
        else:
            s = rng.uniform(50, 500)
            corner = [(0, 0), (s, 0), (s, s / 3), (s / 3, s / 3), (s / 3, s), (0, s)]
            out.append(Volume3D.polygon([(cx + dx, cy + dy) for dx, dy in corner], **z))
    return out


@pytest.mark.parametrize("vector_min", [1, 10**9])  # candidates found with arrays, or in plain Python
@pytest.mark.parametrize("scalar_max", [0, 10**9])  # every exact test vectorized, or every one scalar
def test_cells_of_volumes_in_one_call_match_each_volume_and_brute_force(monkeypatch, scalar_max, vector_min):
    """Oracle: brute-force shapely boxes per volume; the batch, in several chunks, answers as each alone
    (``cells_of_volume``, in plain Python: one volume is below the default ``_VECTOR_MIN``), in order."""
    grid = CellGrid(x_min_m=-1000.0, y_min_m=-500.0, nx=8, ny=6, cell_size_m=250.0)
    volumes = _mixed_volumes(grid, np.random.default_rng(5), 150)
    alone = [grid.cells_of_volume(volume).tolist() for volume in volumes]
    monkeypatch.setattr("airspace.cells._CHUNK", 7)  # several chunks, one partial
    monkeypatch.setattr("airspace.cells._SCALAR_MAX", scalar_max)
    monkeypatch.setattr("airspace.cells._VECTOR_MIN", vector_min)
    cells, owner = grid.cells_of_volumes(volumes)
    assert cells.dtype == owner.dtype == np.int64
    assert owner.tolist() == sorted(owner.tolist())
    for n, volume in enumerate(volumes):
        mine = cells[owner == n].tolist()
        assert mine == alone[n] == sorted(mine)
        assert {tuple(c) for c in mine} == brute_cells_of_volume(grid, volume)
    empty_cells, empty_owner = grid.cells_of_volumes([])
    assert empty_cells.shape == (0, 3) and empty_owner.shape == (0,)


@pytest.mark.parametrize(
    ("edge_m", "centre_m", "radius_m"),
    [
        (43.6, -237.00000000000003, 280.6),
        (-59.6, -346.0, 286.4),
        (120.2, -178.3, 298.5),
        (478.3, 300.9, 177.4),
    ],
)
def test_cells_of_volume_circle_whose_rounded_bounds_stop_short_of_a_cell_it_touches(
    monkeypatch, edge_m, centre_m, radius_m
):
    """centre + radius rounds a hair below the grid's west (south) edge, yet the exact distance is the radius:
    the disc touches the cells on that edge. Oracle: brute-force shapely distances."""
    assert centre_m + radius_m < edge_m
    grid = CellGrid(x_min_m=edge_m, y_min_m=edge_m, nx=2, ny=2, layers=[Layer("a", 0.0, 10.0)])
    inside_m = edge_m + 250.0
    for disc in (
        Volume3D.circle(centre_m, inside_m, radius_m, z_lower_m=0.0, z_upper_m=1.0),
        Volume3D.circle(inside_m, centre_m, radius_m, z_lower_m=0.0, z_upper_m=1.0),
    ):
        expected = brute_cells_of_volume(grid, disc)
        assert expected  # the case is real: shapely says the disc touches
        assert {tuple(c) for c in grid.cells_of_volume(disc).tolist()} == expected
        monkeypatch.setattr("airspace.cells._VECTOR_MIN", 1)  # the array path widens the bounds the same way
        assert {tuple(c) for c in grid.cells_of_volumes([disc])[0].tolist()} == expected
        monkeypatch.undo()


def _zone_grid() -> tuple[CellGrid, tuple[Volume3D, Volume3D, Volume3D]]:
    """A 6 x 6 grid and three zone volumes over it: a low square, a disc, and a disc above every layer."""
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=6, ny=6)
    square = Volume3D.polygon([(0, 0), (900, 0), (900, 700), (0, 700)], z_lower_m=0.0, z_upper_m=40.0)
    disc = Volume3D.circle(2500.0, 2500.0, 600.0, z_lower_m=50.0, z_upper_m=200.0)
    high = Volume3D.circle(3000.0, 3000.0, 100.0, z_lower_m=2000.0, z_upper_m=2100.0)
    return grid, (square, disc, high)


def test_cells_of_geofences_in_one_pass_are_each_zones_union_of_its_volumes():
    """Oracle: per zone, the sorted unique union of cells_of_volume over its volumes (empty zones too)."""
    grid, (square, disc, high) = _zone_grid()
    zones = [
        Geofence("a", Restriction.PROHIBITED, (square, disc)),
        Geofence("b", Restriction.PROHIBITED, (high,)),
        Geofence("c", Restriction.PROHIBITED, (disc, square, disc)),
    ]
    got = grid.cells_of_geofences(zones)
    assert len(got) == 3
    for zone, cells in zip(zones, got, strict=True):
        union = np.unique(np.concatenate([grid.cells_of_volume(v) for v in zone.volumes]), axis=0)
        assert cells.tolist() == union.tolist()
        assert cells.tolist() == grid.cells_of_geofence(zone).tolist()
    assert got[1].shape == (0, 3)
    assert grid.cells_of_geofences([]) == []


@pytest.mark.parametrize("factor", [0.0, -1.0, math.nan, math.inf])
def test_scaled_capacity_refuses_a_factor_that_is_not_finite_and_positive(factor):
    grid = CellGrid(x_min_m=0.0, y_min_m=0.0, nx=2, ny=2)
    with pytest.raises(InvalidRegion, match=r"^capacity_scale: must be finite and > 0"):
        grid.scaled(factor)


def test_restacked_cells_equal_the_cells_of_the_same_outline_at_new_heights():
    """Oracle: cells_of_volume of the re-heighted volume (and the brute force), bands, gaps and none."""
    grid = CellGrid(x_min_m=-1000.0, y_min_m=-500.0, nx=8, ny=6, cell_size_m=250.0)
    rng = np.random.default_rng(5)
    heights = [(30.5, 59.5), (60.0, 90.0), (125.0, 145.0), (0.0, 500.0), (2000.0, 2100.0), (95.0, 100.0)]
    for n in range(40):
        cx, cy = rng.uniform(-1200.0, 1200.0), rng.uniform(-700.0, 1200.0)
        if n % 2:
            first = Volume3D.circle(cx, cy, rng.uniform(1.0, 400.0), z_lower_m=0.0, z_upper_m=40.0)
        else:
            hull = shapely.MultiPoint(rng.normal([cx, cy], 250.0, (6, 2))).convex_hull
            first = Volume3D.polygon(np.asarray(hull.exterior.coords)[:-1], z_lower_m=0.0, z_upper_m=40.0)
        cells = grid.cells_of_volume(first)
        if not len(cells):
            continue
        for lo, hi in heights:
            moved = Volume3D(first.outline, lo, hi)
            got = grid.restacked(cells, lo, hi)
            assert got.dtype == np.int64 and got.shape[1] == 3
            assert got.tolist() == grid.cells_of_volume(moved).tolist()
            assert {tuple(c) for c in got.tolist()} == brute_cells_of_volume(grid, moved)


def test_cells_of_geofences_of_one_volume_each_are_each_volumes_cells():
    """Oracle: the sorted unique cells_of_volume of each zone's only volume (empty ones too)."""
    grid, (square, disc, high) = _zone_grid()
    zones = [
        Geofence(name, Restriction.PROHIBITED, (v,))
        for name, v in zip("abcd", (square, high, disc, square), strict=True)
    ]
    got = grid.cells_of_geofences(zones)
    for zone, cells in zip(zones, got, strict=True):
        assert cells.tolist() == np.unique(grid.cells_of_volume(zone.volumes[0]), axis=0).tolist()
    assert got[1].shape == (0, 3)
