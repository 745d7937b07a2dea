/**
 * Optional background map tiles (`tile_url` of docs/map-api.md; null, the default, means none and the page
 * asks nothing of any other host). Slippy-map (Web Mercator) tiles of the zoom matching the view's metres
 * per pixel are loaded as images, kept in a bounded least-recently-used cache, and drawn faded under every
 * other layer, each stretched between its corners converted into the region's local frame.
 *
 * The local frame is the azimuthal equidistant projection on WGS84 around the region's origin
 * (airspace.frames.LocalFrame). A corner goes there through earth-centred coordinates and the origin's
 * east-north tangent plane: that orthographic plane departs from the equidistant one by about d³/6R²,
 * 1 cm at 14 km (tests/web compares with pyproj). The simpler x = N·cos(lat0)·Δlon, y = M·Δlat is only
 * first-order: it is 3.6 m off at 10 km, several pixels once zoomed in near the region's edge.
 * Images load without CORS, so any tile server works; the canvas then cannot be read back, which the
 * page never does.
 */

const A_M = 6378137.0; // WGS84 semi-major axis
const E2 = 6.69437999014e-3; // WGS84 first eccentricity squared
const DEG = Math.PI / 180;
const M_PER_PX_Z0 = 156543.03; // Web Mercator ground resolution at the equator, zoom 0 (256 px tiles)
const MIN_ZOOM = 8; // coarser tiles span more than a local frame is meant for
const MAX_ZOOM = 19;
const MAX_TILES_DRAWN = 120; // a view needing more is left without background
const CACHE_TILES = 256;
const ALPHA = 0.55; // tiles are faded, so the traffic stays readable over them

/** Earth-centred, earth-fixed metres of a point on the WGS84 ellipsoid. */
function ecef(latDeg, lonDeg) {
  const sinLat = Math.sin(latDeg * DEG);
  const cosLat = Math.cos(latDeg * DEG);
  const n = A_M / Math.sqrt(1 - E2 * sinLat * sinLat);
  return [n * cosLat * Math.cos(lonDeg * DEG), n * cosLat * Math.sin(lonDeg * DEG), n * (1 - E2) * sinLat];
}

/** WGS84 latitude/longitude to and from the region's local east-north metres (see the module note). */
export class LocalProjection {
  constructor({ lat_deg: latDeg, lon_deg: lonDeg }) {
    this.lat0 = latDeg;
    this.lon0 = lonDeg;
    this.o = ecef(latDeg, lonDeg);
    const sinLat = Math.sin(latDeg * DEG);
    this.sinLat = sinLat;
    this.cosLat = Math.cos(latDeg * DEG);
    this.sinLon = Math.sin(lonDeg * DEG);
    this.cosLon = Math.cos(lonDeg * DEG);
    const w = 1 - E2 * sinLat * sinLat;
    this.eastMPerDeg = (A_M / Math.sqrt(w)) * this.cosLat * DEG; // normal radius N, on the parallel
    this.northMPerDeg = ((A_M * (1 - E2)) / (w * Math.sqrt(w))) * DEG; // meridional radius M
  }

  /** [x_m, y_m] of a point at height 0. */
  toLocal(latDeg, lonDeg) {
    const [px, py, pz] = ecef(latDeg, lonDeg);
    const dx = px - this.o[0];
    const dy = py - this.o[1];
    const dz = pz - this.o[2];
    const east = -this.sinLon * dx + this.cosLon * dy;
    const north = -this.sinLat * (this.cosLon * dx + this.sinLon * dy) + this.cosLat * dz;
    return [east, north];
  }

  /** [lat_deg, lon_deg] of a local point: the first-order inverse, refined twice against toLocal. */
  toGeodetic(x, y) {
    let lat = this.lat0 + y / this.northMPerDeg;
    let lon = this.lon0 + x / this.eastMPerDeg;
    for (let k = 0; k < 2; k++) {
      const [ex, ey] = this.toLocal(lat, lon);
      lat += (y - ey) / this.northMPerDeg;
      lon += (x - ex) / this.eastMPerDeg;
    }
    return [lat, lon];
  }
}

/** Tile column / row (fractional) of a longitude / latitude at zoom `z`, and back. */
const tileX = (lonDeg, z) => ((lonDeg + 180) / 360) * 2 ** z;
const tileY = (latDeg, z) => {
  const s = Math.sin(Math.max(-85.0511, Math.min(85.0511, latDeg)) * DEG);
  return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 2 ** z;
};
const lonOf = (x, z) => (x / 2 ** z) * 360 - 180;
const latOf = (y, z) => Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / 2 ** z))) / DEG;

/** The background tiles of one tile source over one region's frame: loading, caching and drawing. */
export class TileLayer {
  /** Tiles of `template` (`{z}`, `{x}`, `{y}`) around `origin` (the map's); `onLoad()` when one arrives. */
  constructor(template, origin, onLoad) {
    this.template = template;
    this.projection = new LocalProjection(origin);
    this.onLoad = onLoad;
    this.host = new URL(template.replace(/\{[a-z]+\}/g, "0")).host; // shown as the credit line
    this.cache = new Map(); // "z/x/y" -> {image, ready}, least recently used first
    this.generation = 0; // grows with every tile that arrives: the layers under the traffic repaint
    this.drawn = 0; // tiles drawn by the last draw()
  }

  /** The zoom whose ground resolution (m/px) is nearest the view's, or -1 when coarser than MIN_ZOOM. */
  zoomFor(scale) {
    const z = Math.round(Math.log2(M_PER_PX_Z0 * Math.cos(this.projection.lat0 * DEG) * scale));
    return z < MIN_ZOOM ? -1 : Math.min(z, MAX_ZOOM);
  }

  /** Draw the tiles covering the view (CSS px on a `dpr` canvas); missing ones are requested. */
  draw(ctx, view, dpr) {
    this.drawn = 0;
    const z = this.zoomFor(view.scale);
    if (z < 0) return;
    const corners = [0, view.width].flatMap((sx) =>
      [0, view.height].map((sy) => this.projection.toGeodetic(...view.unproject(sx, sy))),
    );
    const last = 2 ** z - 1;
    const clampTile = (v) => Math.min(last, Math.max(0, Math.floor(v)));
    const x0 = clampTile(Math.min(...corners.map(([, lon]) => tileX(lon, z))));
    const x1 = clampTile(Math.max(...corners.map(([, lon]) => tileX(lon, z))));
    const y0 = clampTile(Math.min(...corners.map(([lat]) => tileY(lat, z))));
    const y1 = clampTile(Math.max(...corners.map(([lat]) => tileY(lat, z))));
    const nx = x1 - x0 + 1;
    if (nx * (y1 - y0 + 1) > MAX_TILES_DRAWN) return;
    const grid = []; // screen points of the tile corners, row by row
    for (let j = y0; j <= y1 + 1; j++) {
      for (let i = x0; i <= x1 + 1; i++) grid.push(view.project(...this.projection.toLocal(latOf(j, z), lonOf(i, z))));
    }
    const snap = (v) => Math.round(v * dpr) / dpr; // whole device pixels: no seams between tiles
    ctx.globalAlpha = ALPHA;
    for (let j = 0; j <= y1 - y0; j++) {
      for (let i = 0; i < nx; i++) {
        const image = this.tile(z, x0 + i, y0 + j);
        if (!image) continue;
        const at = j * (nx + 1) + i;
        const [nw, ne, sw, se] = [grid[at], grid[at + 1], grid[at + nx + 1], grid[at + nx + 2]];
        // Edges through the mean of their two corners, so neighbours share them exactly (the sub-pixel
        // convergence of meridians within a tile is left out).
        const left = snap((nw[0] + sw[0]) / 2);
        const right = snap((ne[0] + se[0]) / 2);
        const top = snap((nw[1] + ne[1]) / 2);
        const bottom = snap((sw[1] + se[1]) / 2);
        ctx.drawImage(image, left, top, right - left, bottom - top);
        this.drawn += 1;
      }
    }
    ctx.globalAlpha = 1;
  }

  /**
   * The loaded image of a tile, or null: requested the first time it is asked for. A tile that fails stays
   * in the cache unloaded, so it is simply not drawn and not asked for again (no request loop).
   */
  tile(z, x, y) {
    const key = `${z}/${x}/${y}`;
    let entry = this.cache.get(key);
    if (entry) {
      this.cache.delete(key);
    } else {
      entry = { image: new Image(), ready: false };
      entry.image.onload = () => {
        entry.ready = true;
        this.generation += 1;
        this.onLoad();
      };
      entry.image.src = this.template.replace("{z}", z).replace("{x}", x).replace("{y}", y);
      while (this.cache.size >= CACHE_TILES) this.cache.delete(this.cache.keys().next().value);
    }
    this.cache.set(key, entry);
    return entry.ready ? entry.image : null;
  }
}
