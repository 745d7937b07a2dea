"""SpaceTimeIndex: the dynamic R-tree broad phase plus exact test equals brute-force pairwise intersection."""

import itertools
import math
import random
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtree import index as rtree_index

import airspace.index as index_module
from airspace.errors import InvalidVolume
from airspace.index import BOX_LIMIT, SpaceTimeIndex
from airspace.volumes import Volume3D, Volume4D
from tests.airspace.support import CM, T0, box, in_time


def one(key: str, volume: Volume4D) -> SpaceTimeIndex[str]:
    idx: SpaceTimeIndex[str] = SpaceTimeIndex()
    idx.insert(key, volume)
    return idx


def test_rtree_intersection_is_closed():
    """The broad phase relies on libspatialindex returning boxes that only touch the query box."""
    props = rtree_index.Property()
    props.dimension = 4
    tree = rtree_index.Index(properties=props, interleaved=True)
    tree.insert(7, (0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0))
    assert list(tree.intersection((1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0))) == [7]
    assert list(tree.intersection((1.0, 1.0, 1.0, 1.0 + 1e-9, 2.0, 2.0, 2.0, 2.0))) == []


class TestClosedOneCentimetreRule:
    """F3548 GEN0500 via Volume4D.intersects: touching counts, 1 cm overlap is found, a 1 cm gap is not."""

    def test_touching_in_time_counts(self):
        idx = one("a", in_time(box(0, 0, 100, 100), 0, 10))
        assert idx.query(in_time(box(0, 0, 100, 100), 10, 20)) == ["a"]
        assert (
            idx.query(Volume4D(box(0, 0, 100, 100), T0 + timedelta(minutes=10, microseconds=1), None)) == []
        )

    def test_touching_in_altitude_counts(self):
        idx = one("a", in_time(box(0, 0, 100, 100, 0.0, 60.0)))
        assert idx.query(in_time(box(0, 0, 100, 100, 60.0, 120.0))) == ["a"]
        assert idx.query(in_time(box(0, 0, 100, 100, 60.0 + CM, 120.0))) == []

    @pytest.mark.parametrize(
        ("stored", "overlapping", "apart"),
        [
            (box(0, 0, 100, 100), box(100 - CM, 0, 200, 100), box(100 + CM, 0, 200, 100)),
            (
                box(0, 0, 100, 100),
                Volume3D.circle(150.0, 50.0, 50.0 + CM, z_lower_m=0.0, z_upper_m=10.0),
                Volume3D.circle(150.0, 50.0, 50.0 - CM, z_lower_m=0.0, z_upper_m=10.0),
            ),
            (
                Volume3D.circle(0.0, 0.0, 100.0, z_lower_m=0.0, z_upper_m=10.0),
                Volume3D.circle(0.0, 200.0 - 2 * CM, 100.0, z_lower_m=0.0, z_upper_m=10.0),
                Volume3D.circle(0.0, 200.0 + CM, 100.0, z_lower_m=0.0, z_upper_m=10.0),
            ),
        ],
        ids=["polygon-polygon", "polygon-circle", "circle-circle"],
    )
    def test_1_cm_overlap_is_found_and_1_cm_gap_is_not(self, stored, overlapping, apart):
        idx = one("a", in_time(stored))
        assert idx.query(in_time(overlapping)) == ["a"]
        assert idx.query(in_time(apart)) == []

    def test_circle_touching_a_polygon_is_found_despite_rounded_bounds(self):
        """24.1 + 70.1 rounds to 94.19999999999999 < 94.2, yet the exact distance test says they touch."""
        circle = in_time(Volume3D.circle(24.1, 0.0, 70.1, z_lower_m=0.0, z_upper_m=10.0))
        polygon = in_time(box(94.2, -1.0, 95.2, 1.0))
        assert circle.intersects(polygon)
        assert one("p", polygon).query(circle) == ["p"]
        assert one("c", circle).query(polygon) == ["c"]

    def test_boxes_that_meet_are_candidates_but_not_hits(self):
        """A triangle's box covers the corner of another box that the triangle itself misses."""
        idx = one(
            "tri", in_time(Volume3D.polygon([(0, 0), (100, 0), (0, 100)], z_lower_m=0.0, z_upper_m=10.0))
        )
        corner = in_time(box(80, 80, 120, 120))
        assert idx.candidates(corner.box) == ["tri"]
        assert idx.query(corner) == []


class TestUnbounded:
    def test_unbounded_stored_volume_is_found_by_any_overlapping_query(self):
        zone = Volume4D(box(0, 0, 100, 100, -math.inf, math.inf), None, None)
        idx = one("zone", zone)
        assert idx.query(in_time(box(50, 50, 60, 60, 1e5, 1e5 + 1), 1e6, 1e6 + 1)) == ["zone"]
        assert idx.query(in_time(box(200, 0, 300, 100))) == []

    def test_unbounded_query_finds_bounded_and_unbounded_volumes(self):
        idx: SpaceTimeIndex[str] = SpaceTimeIndex()
        idx.insert("open-above", Volume4D(box(0, 0, 10, 10, 50.0, math.inf), T0, None))
        idx.insert("open-below", Volume4D(box(0, 0, 10, 10, -math.inf, 50.0), None, T0))
        idx.insert("bounded", in_time(box(5, 5, 20, 20)))
        everything = Volume4D(box(0, 0, 10, 10, -math.inf, math.inf), None, None)
        assert idx.query(everything) == ["bounded", "open-above", "open-below"]
        # The two half-open volumes touch at z = 50 m and at T0.
        assert idx.query(Volume4D(box(0, 0, 10, 10, 50.0, math.inf), T0, None)) == [
            "bounded",
            "open-above",
            "open-below",
        ]
        inf_box = (-math.inf,) * 4 + (math.inf,) * 4
        assert idx.candidates(inf_box) == ["bounded", "open-above", "open-below"]

    def test_query_beyond_the_stored_limit_still_meets_unbounded_volumes(self):
        idx = one("up", Volume4D(box(0, 0, 10, 10, 0.0, math.inf)))
        far = 2 * BOX_LIMIT
        assert idx.candidates((0, 0, far, 0, 10, 10, far + 1, 1)) == ["up"]
        assert one("low", in_time(box(0, 0, 10, 10))).candidates((0, 0, far, 0, 10, 10, far + 1, 1)) == []

    def test_finite_bound_at_the_limit_is_refused(self):
        with pytest.raises(InvalidVolume, match=r"volume\.box\.z_max: finite bounds must lie within") as err:
            one("a", Volume4D(box(0, 0, 1, 1, 0.0, BOX_LIMIT)))
        assert err.value.field == "volume.box.z_max"


class TestKeys:
    def test_a_key_holds_several_volumes_and_remove_drops_them_all(self):
        idx: SpaceTimeIndex[str] = SpaceTimeIndex()
        first, second = in_time(box(0, 0, 10, 10)), in_time(box(1000, 0, 1010, 10))
        idx.insert("intent", first)
        idx.insert("intent", second)
        idx.insert("other", in_time(box(0, 0, 10, 10), 30, 40))
        assert len(idx) == 2 and "intent" in idx and "nobody" not in idx
        assert idx.volumes("intent") == (first, second)
        assert list(idx) == ["intent", "other"]
        assert idx.query(in_time(box(1005, 5, 1020, 20))) == ["intent"]
        idx.remove("intent")
        assert "intent" not in idx and len(idx) == 1
        assert idx.query(in_time(box(1005, 5, 1020, 20))) == []
        assert idx.query(in_time(box(0, 0, 10, 10), 0, 60)) == ["other"]

    def test_remove_unknown_key_raises_key_error(self):
        idx = one("a", in_time(box(0, 0, 1, 1)))
        with pytest.raises(KeyError):
            idx.remove("b")
        idx.remove("a")
        with pytest.raises(KeyError):
            idx.remove("a")
        with pytest.raises(KeyError):
            idx.volumes("a")

    def test_non_volume_is_refused(self):
        with pytest.raises(InvalidVolume, match="volume: must be a Volume4D"):
            SpaceTimeIndex().insert("a", box(0, 0, 1, 1))  # a Volume3D

    def test_query_many_is_the_union_sorted_uuid_keys(self):
        keys = [UUID(int=n) for n in (3, 1, 2)]
        idx: SpaceTimeIndex[UUID] = SpaceTimeIndex()
        for n, key in enumerate(keys):
            idx.insert(key, in_time(box(100 * n, 0, 100 * n + 10, 10)))
        assert idx.query_many([in_time(box(0, 0, 5, 5)), in_time(box(200, 0, 205, 5))]) == sorted(
            [keys[0], keys[2]]
        )
        assert idx.query_many([]) == []

    def test_from_items_answers_like_inserts(self):
        items = [(n % 7, in_time(box(3 * n, 0, 3 * n + 5, 5), n, n + 5)) for n in range(50)]
        built = SpaceTimeIndex.from_items(items)
        inserted: SpaceTimeIndex[int] = SpaceTimeIndex()
        for key, volume in items:
            inserted.insert(key, volume)
        probe = in_time(box(20, 0, 60, 5), 8, 12)
        assert built.query(probe) == inserted.query(probe) != []
        assert built.volumes(3) == inserted.volumes(3)
        built.remove(3)
        built.insert(3, probe)
        assert 3 in built.query(probe)
        assert len(SpaceTimeIndex.from_items([])) == 0


# --- property test: index == brute force ---------------------------------------------------------

# Integer-ish coordinates so that touching and 1 cm overlaps/gaps come up often; decimal offsets so
# that a circle's bounds (centre ± radius) sometimes round inwards of a polygon edge it touches.
coord = st.builds(lambda n, d: n + d, st.integers(0, 8), st.sampled_from([0.0, 0.0, CM, -CM, 0.1, 0.7]))
size = st.builds(lambda n, d: n + d, st.integers(1, 4), st.sampled_from([0.0, 0.0, CM, -CM]))


@st.composite
def outlines(draw: st.DrawFn) -> tuple[str, tuple]:
    kind = draw(st.sampled_from(["rect", "tri", "circle"]))
    x, y, w, h = draw(coord), draw(coord), draw(size), draw(size)
    if kind == "rect":
        return kind, ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    if kind == "tri":
        sx, sy = draw(st.sampled_from([1, -1])), draw(st.sampled_from([1, -1]))
        return kind, ((x, y), (x + sx * w, y), (x, y + sy * h))
    return kind, (x, y, draw(st.sampled_from([0.0, 0.5, 1.0, 1.1, 1.5, 2.0 + CM, 2.0 - CM, 2.1])))


@st.composite
def volumes4d(draw: st.DrawFn) -> Volume4D:
    kind, shape = draw(outlines())
    lo = draw(st.sampled_from([-math.inf, 0.0, 1.0, 2.0, 2.0 + CM]))
    hi = draw(st.sampled_from([1.0, 2.0, 3.0, math.inf]).filter(lambda h: h > lo))
    z = {"z_lower_m": lo, "z_upper_m": hi}
    vol = Volume3D.circle(*shape, **z) if kind == "circle" else Volume3D.polygon(shape, **z)
    start = draw(st.one_of(st.none(), st.integers(0, 6)))
    end = draw(
        st.one_of(st.none(), st.integers(1, 8)).filter(lambda e: e is None or start is None or e > start)
    )
    return Volume4D(
        vol,
        None if start is None else T0 + timedelta(minutes=start),
        None if end is None else T0 + timedelta(minutes=end),
    )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 5), volumes4d()),
        st.tuples(st.just("remove"), st.integers(0, 5), st.none()),
    ),
    max_size=25,
)


def boxes_meet(a: tuple, b: tuple) -> bool:
    return all(a[i] <= b[i + 4] and b[i] <= a[i + 4] for i in range(4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, probes=st.lists(volumes4d(), min_size=1, max_size=4))
def test_index_answers_exactly_what_brute_force_pairwise_intersection_answers(ops, probes):
    """Oracle: Volume4D.intersects (and the closed box test) over every stored (key, volume)."""
    idx: SpaceTimeIndex[int] = SpaceTimeIndex()
    model: dict[int, list[Volume4D]] = {}
    for op, key, volume in ops:
        if op == "insert":
            idx.insert(key, volume)
            model.setdefault(key, []).append(volume)
        elif key in model:
            idx.remove(key)
            del model[key]
        else:
            with pytest.raises(KeyError):
                idx.remove(key)
    assert len(idx) == len(model) and list(idx) == sorted(model)
    assert all(idx.volumes(k) == tuple(vs) for k, vs in model.items())
    rebuilt = SpaceTimeIndex.from_items([(k, v) for k, vs in model.items() for v in vs])
    for probe in probes:
        hits = sorted(k for k, vs in model.items() if any(probe.intersects(v) for v in vs))
        assert idx.query(probe) == hits
        assert rebuilt.query(probe) == hits
        assert idx.candidates(probe.box) == sorted(
            k for k, vs in model.items() if any(boxes_meet(probe.box, v.box) for v in vs)
        )
        near = idx.near(probe)  # the broad phase of query: boxes that meet, and never missing a hit
        assert set(hits) <= set(near) and set(idx.candidates(probe.box)) <= set(near)
    union = sorted(k for k, vs in model.items() if any(p.intersects(v) for p in probes for v in vs))
    assert idx.query_many(probes) == union
    stored = [(k, v) for k, vs in model.items() for v in vs]
    for probe in probes:  # the per-volume answers: each stored (key, volume) pair, by identity
        assert sorted((k, id(v)) for k, v in idx.meeting(probe)) == sorted(
            (k, id(v)) for k, v in stored if probe.intersects(v)
        )
        assert sorted((k, id(v)) for k, v in idx.entries(probe.box)) == sorted(
            (k, id(v)) for k, v in stored if boxes_meet(probe.box, v.box)
        )


@pytest.mark.parametrize("scan_max", [0, 10_000])
def test_box_queries_by_tree_and_by_scan_answer_like_brute_force(monkeypatch, scan_max):
    """Oracle: the closed box test and Volume4D.intersects over every stored volume, with the R-tree asked
    (``_SCAN_MAX`` 0) and with every box scanned; touching boxes and unbounded times included."""
    monkeypatch.setattr(index_module, "_SCAN_MAX", scan_max)
    rng = random.Random(4)

    def volume() -> Volume4D:
        x, y, z = rng.randint(0, 8), rng.randint(0, 8), rng.choice([0.0, 1.0, 2.0])
        start = rng.choice([None, 0, 2, 4])
        end = rng.choice([None, 3, 5, 7]) if start is None or start < 3 else None
        return Volume4D(
            box(x, y, x + rng.randint(1, 3), y + rng.randint(1, 3), z, z + 1.0),
            None if start is None else T0 + timedelta(minutes=start),
            None if end is None else T0 + timedelta(minutes=end),
        )

    stored = [(n % 40, volume()) for n in range(120)]
    idx: SpaceTimeIndex[int] = SpaceTimeIndex()
    for key, v in stored:
        idx.insert(key, v)
    for key in range(0, 40, 7):
        idx.remove(key)
    stored = [(k, v) for k, v in stored if k % 7]
    for probe in (volume() for _ in range(60)):
        assert idx.candidates(probe.box) == sorted({k for k, v in stored if boxes_meet(probe.box, v.box)})
        assert idx.entries(probe.box) == [(k, v) for k, v in stored if boxes_meet(probe.box, v.box)]
        assert idx.meeting(probe) == [(k, v) for k, v in stored if probe.intersects(v)]
        assert idx.query(probe) == sorted({k for k, v in stored if probe.intersects(v)})
        assert set(idx.query(probe)) <= set(idx.near(probe))


@pytest.mark.parametrize("scan_max", [0, 10_000])
def test_batched_queries_answer_each_volume_like_brute_force(monkeypatch, scan_max):
    """Oracle: meeting_each and entries_each give, per probe, the brute-force answer by insertion, for runs
    of neighbouring probes (one query of their hull) and for probes far apart (queries of their own)."""
    monkeypatch.setattr(index_module, "_SCAN_MAX", scan_max)
    rng = random.Random(5)

    def volume(x: int, y: int, start: int) -> Volume4D:
        z = rng.choice([0.0, 1.0, 2.0])
        end = start + rng.randint(1, 3)
        size = rng.randint(1, 3)
        return Volume4D(
            box(x, y, x + size, y + size, z, z + 1.0),
            T0 + timedelta(minutes=start),
            T0 + timedelta(minutes=end),
        )

    stored = [
        (n % 30, volume(rng.randint(0, 30), rng.randint(0, 30), rng.randint(0, 30))) for n in range(150)
    ]
    idx: SpaceTimeIndex[int] = SpaceTimeIndex.from_items(stored)
    for _ in range(40):
        x, y, t = rng.randint(0, 30), rng.randint(0, 30), rng.randint(0, 30)
        legs = [
            volume(x + rng.randint(-2, 2), y + rng.randint(-2, 2), t + rng.randint(-2, 2)) for _ in range(3)
        ]
        probes = legs + [volume(rng.randint(0, 30), rng.randint(0, 30), rng.randint(0, 30)) for _ in range(2)]
        assert idx.meeting_each(probes) == [[(k, v) for k, v in stored if p.intersects(v)] for p in probes]
        assert idx.entries_each([p.box for p in probes]) == [
            [(k, v) for k, v in stored if boxes_meet(p.box, v.box)] for p in probes
        ]
        assert idx.candidates_each([p.box for p in probes]) == [
            sorted({k for k, v in stored if boxes_meet(p.box, v.box)}) for p in probes
        ]
        assert idx.near_each(probes) == [idx.near(p) for p in probes]
        for p, near in zip(probes, idx.near_each(probes), strict=True):
            assert set(idx.query(p)) <= set(near) and set(idx.candidates(p.box)) <= set(near)
    assert idx.meeting_each([]) == [] and idx.entries_each([]) == [] and idx.near_each([]) == []


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(1, 3)), max_size=8))
def test_runs_split_boxes_into_consecutive_runs_each_queried_by_its_hull(cubes):
    """Definition: the runs partition the boxes in order, each box of a run meets the hull of those before it
    (a box that does not starts a new run) and each run's hull is the smallest box holding its boxes."""
    boxes = [(x, y, 0.0, 0.0, x + s, y + s, 1.0, 1.0) for x, y, s in cubes]
    runs = list(index_module._runs(boxes))
    assert [n for first, end, _ in runs for n in range(first, end)] == list(range(len(boxes)))
    for first, end, hull in runs:
        run = boxes[first:end]
        assert hull == tuple(min(b[i] for b in run) for i in range(4)) + tuple(
            max(b[i] for b in run) for i in range(4, 8)
        )
        for n in range(1, len(run)):
            before = run[:n]
            lo = [min(b[i] for b in before) for i in range(4)]
            hi = [max(b[i] for b in before) for i in range(4, 8)]
            assert boxes_meet(run[n], (*lo, *hi))
    for (_, end, hull), (first, _, _) in itertools.pairwise(runs):
        assert end == first and not boxes_meet(boxes[first], hull)


def test_remembered_queries_answer_boxes_inside_them_exactly_and_are_forgotten_on_change(monkeypatch):
    """Oracle: brute force, for boxes inside a box just asked (answered from its remembered rows) and again
    after inserts and removals (which must forget them: a removed row is never answered, a new one is)."""
    monkeypatch.setattr(index_module, "_SCAN_MAX", 0)
    rng = random.Random(6)

    def volume(x: float, y: float, size: float) -> Volume4D:
        return in_time(box(x, y, x + size, y + size), rng.randint(0, 5), rng.randint(6, 9))

    stored = [(n, volume(rng.uniform(0, 50), rng.uniform(0, 50), rng.uniform(1, 9))) for n in range(80)]
    idx: SpaceTimeIndex[int] = SpaceTimeIndex.from_items(stored)
    for step in range(30):
        wide = volume(rng.uniform(0, 30), rng.uniform(0, 30), 20.0)
        x0, y0 = wide.box[0], wide.box[1]
        inner = [in_time(box(x0 + d, y0 + d, x0 + d + 5, y0 + d + 5), 6, 7) for d in (1.0, 8.0, 14.0)]
        for probes in ([wide], inner, [wide, *inner]):
            assert idx.meeting_each(probes) == [
                [(k, v) for k, v in stored if p.intersects(v)] for p in probes
            ]
        if step % 2:
            key = stored.pop(rng.randrange(len(stored)))[0]
            idx.remove(key)
        else:
            stored.append((100 + step, volume(x0 + 3.0, y0 + 3.0, 4.0)))
            idx.insert(*stored[-1])
        assert idx.meeting_each(inner) == [[(k, v) for k, v in stored if p.intersects(v)] for p in inner]


@given(st.lists(st.integers(0, 6), min_size=16, max_size=16))
def test_holds_is_containment_of_closed_boxes(bounds):
    """Oracle: ``outer`` holds ``inner`` exactly when every point of ``inner`` is in ``outer``: each of its
    intervals lies within the other's (closed, touching ends included)."""
    outer = tuple(map(float, (*map(min, bounds[0:4], bounds[4:8]), *map(max, bounds[0:4], bounds[4:8]))))
    inner = tuple(map(float, (*map(min, bounds[8:12], bounds[12:]), *map(max, bounds[8:12], bounds[12:]))))
    within = all(outer[i] <= inner[i] and inner[i + 4] <= outer[i + 4] for i in range(4))
    assert index_module._holds(outer, inner) == within
