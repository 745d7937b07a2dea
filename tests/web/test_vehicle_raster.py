"""The stamped vehicle layer (api/web/js/raster.js, used above 2,000 vehicles) against the canvas's own
vector drawing of the same vehicles (the path used below), in the browser.

Oracle: the vector path, rasterised by Chromium; the stamped picture may differ only by the stamp's
rounding (its centre to a whole device pixel, its heading to one of 64).
"""

from __future__ import annotations

import pytest

REPLAY = "utm6g.replay.read"

COMPARE = """async (dpr) => {
  const { VehicleLayer } = await import('/web/js/markers.js');
  const { Trails, Vehicles } = await import('/web/js/frames.js');
  const [W, H, n] = [480, 320, 96];
  const view = { width: W, height: H, scale: 0.1, origin: () => [W / 2, H / 2] };
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const vehicles = new Vehicles();
  vehicles.reserve(n);
  vehicles.n = n;
  const trails = new Trails(4);
  trails.reserve(n);
  for (let i = 0; i < n; i++) {  // a 12 x 8 lattice 40 px apart, jittered; every mode, some sensed
    vehicles.flight[i] = i;
    vehicles.x[i] = ((i % 12) - 5.5) * 400 + (random() - 0.5) * 100;
    vehicles.y[i] = (Math.floor(i / 12) - 3.5) * 400 + (random() - 0.5) * 100;
    const heading = random() * 2 * Math.PI;
    vehicles.vx[i] = 12 * Math.sin(heading);
    vehicles.vy[i] = 12 * Math.cos(heading);
    vehicles.mode[i] = i % 5;
    vehicles.sensed[i] = i % 10 === 4 ? 1 : 0;
    trails.count[i] = 4;
    for (let k = 0; k < 4; k++) {
      trails.x[i * 4 + k] = vehicles.x[i] - vehicles.vx[i] * 2 * (k + 1) + 20 * Math.sin(k + i);
      trails.y[i * 4 + k] = vehicles.y[i] - vehicles.vy[i] * 2 * (k + 1);
    }
  }
  const classOfMode = Uint8Array.from([1, 3, 4, 5, 0]);
  const largeById = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 1 : 0));
  const picture = (stamped, what) => {
    const canvas = new OffscreenCanvas(W * dpr, H * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const layer = new VehicleLayer(view);
    layer.resize(W * dpr, H * dpr, dpr);
    const classes = layer.classify(vehicles, classOfMode);
    if (stamped) {
      layer.pixels.begin();
      if (what === 'trails') layer.stampTrails(trails, vehicles, dpr);
      else layer.stampMarkers(vehicles, classes, largeById, dpr);
      layer.pixels.composite(ctx);
    } else if (what === 'trails') layer.trailPaths(ctx, trails, vehicles);
    else layer.markerPaths(ctx, vehicles, classes, largeById);
    return ctx.getImageData(0, 0, W * dpr, H * dpr).data;
  };
  const compare = (what, threshold) => {
    const [a, b] = [picture(false, what), picture(true, what)];
    let [both, either, sumA, sumB] = [0, 0, 0, 0];
    for (let p = 3; p < a.length; p += 4) {
      const [inA, inB] = [a[p] > threshold, b[p] > threshold];
      both += inA && inB;
      either += inA || inB;
      sumA += a[p];
      sumB += b[p];
    }
    let sameColour = 0;  // marker centres: the same class colour in both pictures
    for (let i = 0; i < n; i++) {
      const row = Math.floor((H / 2 - vehicles.y[i] * 0.1) * dpr);
      const p = (row * W * dpr + Math.floor((W / 2 + vehicles.x[i] * 0.1) * dpr)) * 4;
      const close = [0, 1, 2, 3].every((c) => Math.abs(a[p + c] - b[p + c]) <= 24);
      sameColour += close && a[p + 3] > 200;
    }
    return { overlap: both / either, alpha: sumB / sumA, sameColour: sameColour / n };
  };
  return { markers: compare('markers', 128), trails: compare('trails', 20) };
}"""


@pytest.mark.parametrize("dpr", [1, 2])
def test_stamped_vehicles_match_the_vector_drawing(map_page, server, mint, dpr):
    """Markers: the opaque pixels of the two pictures overlap at least 72 % (intersection over union; 80 % and
    88 % measured, a heading mirrored or a position 1 px off gives 50-60 %), total opacity within 10 %, and
    every marker's centre pixel has the same colour. Trails: overlap 60 % (84-88 % measured), opacity within
    25 % (the stamped line keeps the highest coverage where a trail bends)."""
    map_page.open(f"{server.url}/#run=busy&token={mint('raster', REPLAY)}")
    result = map_page.js(COMPARE, dpr)
    markers, trails = result["markers"], result["trails"]
    assert markers["overlap"] >= 0.72 and abs(markers["alpha"] - 1) <= 0.1, result
    assert markers["sameColour"] == 1.0, result
    assert trails["overlap"] >= 0.6 and abs(trails["alpha"] - 1) <= 0.25, result
    assert not map_page.errors
