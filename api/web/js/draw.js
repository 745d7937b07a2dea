/**
 * Canvas drawing of one frame of the map, bottom to top: region, coverage image, grid lines, geofences,
 * gNB sites, hubs and scale bar (an offscreen copy, repainted when the view or a zone's activity changes),
 * cell occupancy, operational intents (another copy), conflict/LoS links, trails, vehicles. Features of one
 * style share one path (one Path2D per vehicle colour), so 10,000 vehicles are a handful of fill calls;
 * nothing is a DOM node. Drawing is in CSS pixels on a devicePixelRatio-sized canvas.
 */

import * as C from "./colors.js";

const UNSEEN = C.CLASS_INDEX.unseen;
const SENSED = C.CLASS_INDEX.sensed;
const LABEL_MIN_SCALE = 0.15; // px per metre from which vehicles get their id written beside them
const MAX_LABELS = 400;
const STILL_MPS = 0.3; // slower than this a marker points north
const OUTLINE_MAX = 2000; // markers get a white edge up to this many (rasterising edges is the costly part)

export class Renderer {
  constructor(canvas, view) {
    this.canvas = canvas;
    this.view = view;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.base = new Cache(); // background, region, coverage, grid lines, geofences, sites, hubs, scale bar
    this.intents = new Cache(); // replay corridors: change only at take-offs and landings
    this.dpr = 1;
  }

  /** Match the canvas to the window (device pixels) and tell the view its size in CSS pixels. */
  resize() {
    this.dpr = window.devicePixelRatio || 1;
    const w = window.innerWidth;
    const h = window.innerHeight;
    this.canvas.width = Math.round(w * this.dpr);
    this.canvas.height = Math.round(h * this.dpr);
    this.base.resize(this.canvas.width, this.canvas.height);
    this.intents.resize(this.canvas.width, this.canvas.height);
    this.view.width = w;
    this.view.height = h;
  }

  /**
   * Draw `scene` (built by main.js `render()`); returns the number of vehicle markers drawn. Layers that
   * change only with the view, the layer choice or a zone's activity come from cached offscreen copies.
   */
  draw(scene) {
    const { ctx, view, dpr } = this;
    const { map, layers } = scene;
    const viewKey = `${view.cx}|${view.cy}|${view.scale}|${view.width}|${view.height}|${dpr}`;
    const active = (f) => (isActive(f, scene.geofenceT) ? 1 : 0);
    const fences = map && layers.geofences ? map.geofences.map(active).join("") : "";
    const coverage = layers.coverage ? scene.coverage : null;
    const baseKey = [viewKey, map?.run ?? map?.region, fences, layers.cells, layers.sites, layers.hubs].join("/");
    this.base.paint(baseKey, coverage?.image, dpr, (c) => this.paintBase(c, map, layers, coverage, scene.geofenceT));
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.base.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (!map) return 0;
    if (layers.cells && scene.cellRatio) this.cells(ctx, map.grid, scene.cellRatio);
    if (layers.intents && scene.corridors.length) {
      const ids = scene.corridors.map((c) => (c.selected ? `*${c.id}` : c.id)).join(",");
      this.intents.paint(`${viewKey}/${ids}`, null, dpr, (c) => this.corridors(c, scene.corridors));
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(this.intents.canvas, 0, 0);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    }
    if (layers.intents) this.volumes(ctx, scene.volumes);
    const vehicles = scene.vehicles;
    let drawn = 0;
    if (vehicles) {
      if (layers.links) this.links(ctx, scene.links, vehicles);
      if (layers.trails && scene.trails) this.trails(ctx, scene.trails, vehicles);
      if (layers.vehicles) drawn = this.vehicles(ctx, vehicles, scene);
    }
    return drawn;
  }

  paintBase(ctx, map, layers, coverage, t) {
    ctx.fillStyle = C.BACKGROUND;
    ctx.fillRect(0, 0, this.view.width, this.view.height);
    if (!map) return;
    this.region(ctx, map.bounds_m);
    if (coverage) this.coverage(ctx, coverage);
    if (layers.cells) this.gridLines(ctx, map.grid);
    if (layers.geofences) this.geofences(ctx, map.geofences, t);
    if (layers.sites) this.sites(ctx, map.sites);
    if (layers.hubs) this.hubs(ctx, map.hubs);
    this.scaleBar(ctx);
  }

  region(ctx, [x0, y0, x1, y1]) {
    const [sx0, sy0] = this.view.project(x0, y1);
    const [sx1, sy1] = this.view.project(x1, y0);
    ctx.fillStyle = C.REGION_FILL;
    ctx.fillRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
    ctx.strokeStyle = C.REGION_EDGE;
    ctx.lineWidth = 1;
    ctx.strokeRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
  }

  coverage(ctx, { image, bounds: [x0, y0, x1, y1] }) {
    const [sx0, sy0] = this.view.project(x0, y1);
    const [sx1, sy1] = this.view.project(x1, y0);
    ctx.imageSmoothingEnabled = false; // one square per grid point: the data's real resolution
    ctx.drawImage(image.canvas, sx0, sy0, sx1 - sx0, sy1 - sy0);
    ctx.imageSmoothingEnabled = true;
  }

  /** Cells filled by occupancy step, one path per step. */
  cells(ctx, grid, ratio) {
    const xs = grid.x_edges_m;
    const ys = grid.y_edges_m;
    const ny = ys.length - 1;
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const paths = C.OCCUPANCY_STEPS.map(() => new Path2D());
    for (let c = 0; c < ratio.length; c++) {
      const r = ratio[c];
      if (r <= 0) continue;
      const i = Math.floor(c / ny);
      const j = c - i * ny;
      const step = C.OCCUPANCY_STEPS.findIndex((st) => r <= st.upTo);
      const [x0, x1, y0, y1] = [ox + xs[i] * s, ox + xs[i + 1] * s, oy - ys[j + 1] * s, oy - ys[j] * s];
      paths[step].moveTo(x0, y0); // not rect(): it closes the subpath, which is slow (see markerPath)
      paths[step].lineTo(x1, y0);
      paths[step].lineTo(x1, y1);
      paths[step].lineTo(x0, y1);
    }
    C.OCCUPANCY_STEPS.forEach((st, k) => {
      ctx.fillStyle = st.color;
      ctx.fill(paths[k]);
    });
  }

  /** Faint cell edges, while cells are 5 px or more across. */
  gridLines(ctx, grid) {
    const xs = grid.x_edges_m;
    const ys = grid.y_edges_m;
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    if ((xs[1] - xs[0]) * s < 5) return;
    const lines = new Path2D();
    const top = oy - ys.at(-1) * s;
    const bottom = oy - ys[0] * s;
    for (const x of xs) {
      lines.moveTo(ox + x * s, top);
      lines.lineTo(ox + x * s, bottom);
    }
    for (const y of ys) {
      lines.moveTo(ox + xs[0] * s, oy - y * s);
      lines.lineTo(ox + xs.at(-1) * s, oy - y * s);
    }
    ctx.strokeStyle = C.GRID_LINE;
    ctx.lineWidth = 1;
    ctx.stroke(lines);
  }

  /** Zones by restriction; dashed and dim when not active at `t`. */
  geofences(ctx, fences, t) {
    for (const fence of fences) {
      const active = isActive(fence, t);
      const color = C.RESTRICTION[fence.restriction] ?? C.RESTRICTION.NO_RESTRICTION;
      const path = this.polygon(fence.outline_m);
      ctx.strokeStyle = color;
      if (active) {
        ctx.globalAlpha = 0.12;
        ctx.fillStyle = color;
        ctx.fill(path);
        ctx.globalAlpha = 0.9;
        ctx.lineWidth = 1.5;
      } else {
        ctx.globalAlpha = 0.55;
        ctx.lineWidth = 1;
        ctx.setLineDash([6, 4]);
      }
      ctx.stroke(path);
      ctx.setLineDash([]);
      ctx.globalAlpha = 1;
    }
    for (const fence of fences) this.zoneLabel(ctx, fence);
  }

  /** The zone's id at its vertex mean, when the zone is large enough on screen and its centre visible. */
  zoneLabel(ctx, fence) {
    const pts = fence.outline_m.map(([x, y]) => this.view.project(x, y));
    const xs = pts.map((p) => p[0]);
    if (Math.max(...xs) - Math.min(...xs) < 90) return;
    const cx = xs.reduce((a, b) => a + b, 0) / pts.length;
    const cy = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    if (cx < 0 || cy < 0 || cx > this.view.width || cy > this.view.height) return;
    label(ctx, fence.id, cx, cy, { align: "center", color: C.RESTRICTION[fence.restriction] ?? C.LABEL, size: 11 });
  }

  sites(ctx, sites) {
    if (!sites.length) return;
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const r = s > 0.1 ? 4.5 : 2.5; // a dense deployment stays a faint texture when zoomed out
    const path = new Path2D();
    for (const site of sites) {
      const x = ox + site.x_m * s;
      const y = oy - site.y_m * s;
      path.moveTo(x, y - r); // no closePath(): a fill closes each triangle (see markerPath)
      path.lineTo(x + r * 0.87, y + r * 0.5);
      path.lineTo(x - r * 0.87, y + r * 0.5);
    }
    ctx.fillStyle = C.SITE;
    ctx.fill(path);
  }

  hubs(ctx, hubs) {
    for (const hub of hubs) {
      const [x, y] = this.view.project(hub.x_m, hub.y_m);
      const vertiport = hub.kind === "vertiport";
      ctx.fillStyle = vertiport ? C.VERTIPORT : C.HUB;
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.5;
      const r = vertiport ? 6 : 5;
      ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
      ctx.strokeRect(x - r, y - r, 2 * r, 2 * r);
      label(ctx, hub.name, x + r + 4, y, { color: C.LABEL, size: 11, bold: true });
    }
  }

  /**
   * Replay intents: the planned path buffered by its lateral buffer, as a translucent round-jointed stroke
   * 2 * buffer wide and a thin outline of the union. Per width: the outline colour stroked 2 px wider, the
   * inside cut out, then filled, so overlapping corridors neither darken nor show inner edges.
   */
  corridors(ctx, corridors) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const byWidth = new Map();
    const selected = [];
    for (const c of corridors) {
      const path = new Path2D();
      c.points.forEach(([x, y], k) => (k ? path.lineTo(ox + x * s, oy - y * s) : path.moveTo(ox + x * s, oy - y * s)));
      const w = Math.max(2 * c.bufferM * s, 1.5);
      if (c.selected) selected.push([w, path]);
      if (!byWidth.has(w)) byWidth.set(w, new Path2D());
      byWidth.get(w).addPath(path);
    }
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const [w, path] of byWidth) {
      ctx.strokeStyle = C.INTENT_EDGE;
      ctx.lineWidth = w + 2;
      ctx.stroke(path);
      ctx.globalCompositeOperation = "destination-out";
      ctx.strokeStyle = "#000"; // opaque: cuts the inside out completely
      ctx.lineWidth = w;
      ctx.stroke(path);
      ctx.globalCompositeOperation = "source-over";
      ctx.strokeStyle = C.INTENT_FILL;
      ctx.stroke(path);
    }
    for (const [w, path] of selected) {
      ctx.strokeStyle = C.INTENT_SELECTED_FILL;
      ctx.lineWidth = w;
      ctx.stroke(path);
      ctx.strokeStyle = C.INTENT_SELECTED_EDGE;
      ctx.lineWidth = 1;
      ctx.setLineDash([5, 4]);
      ctx.stroke(path);
      ctx.setLineDash([]);
    }
  }

  /** Live intents: each volume's footprint, coloured by the intent's state; dashed outside its time. */
  volumes(ctx, volumes) {
    for (const v of volumes) {
      const path = this.polygon(v.outline);
      ctx.strokeStyle = v.color;
      ctx.fillStyle = v.color;
      ctx.globalAlpha = v.active ? 0.1 : 0.04;
      ctx.fill(path);
      ctx.globalAlpha = v.active ? 0.9 : 0.5;
      ctx.lineWidth = v.selected ? 3 : 1.5;
      if (!v.active || v.offNominal) ctx.setLineDash([6, 4]);
      ctx.stroke(path);
      ctx.setLineDash([]);
      ctx.globalAlpha = 1;
    }
  }

  /** A line between the two vehicles of each open episode: conflict dashed amber, LoS red, NMAC thick. */
  links(ctx, links, vehicles) {
    if (!links.length) return;
    const styles = { conflict: [1.5, C.LINK.conflict, [5, 4]], los: [2, C.LINK.los, []], nmac: [4, C.LINK.nmac, []] };
    const paths = { conflict: new Path2D(), los: new Path2D(), nmac: new Path2D() };
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    for (const link of links) {
      const a = vehicles.indexOf(link.a);
      const b = vehicles.indexOf(link.b);
      if (a < 0 || b < 0) continue;
      const path = paths[link.kind === "los" ? (link.nmac ? "nmac" : "los") : "conflict"];
      path.moveTo(ox + vehicles.x[a] * s, oy - vehicles.y[a] * s);
      path.lineTo(ox + vehicles.x[b] * s, oy - vehicles.y[b] * s);
    }
    ctx.lineCap = "round";
    for (const [kind, [width, color, dash]] of Object.entries(styles)) {
      ctx.lineWidth = width;
      ctx.strokeStyle = color;
      ctx.setLineDash(dash);
      ctx.stroke(paths[kind]);
    }
    ctx.setLineDash([]);
    ctx.lineCap = "butt";
  }

  trails(ctx, trails, vehicles) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const L = trails.length;
    const path = new Path2D();
    for (let i = 0; i < Math.min(trails.n, vehicles.n); i++) {
      const count = trails.count[i];
      if (!count) continue;
      path.moveTo(ox + vehicles.x[i] * s, oy - vehicles.y[i] * s);
      for (let k = 0; k < count; k++) path.lineTo(ox + trails.x[i * L + k] * s, oy - trails.y[i * L + k] * s);
    }
    ctx.strokeStyle = C.TRAIL;
    ctx.lineWidth = 1;
    ctx.stroke(path);
  }

  /** Oriented arrow markers (eVTOLs larger), one path per class; a ring around sensed-only tracks. */
  vehicles(ctx, vehicles, { classOfMode, largeById, selected }) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const paths = C.VEHICLE_CLASSES.map(() => new Path2D());
    const rings = new Path2D();
    const { n, flight, x, y, vx, vy, mode, sensed } = vehicles;
    for (let i = 0; i < n; i++) {
      const sx = ox + x[i] * s;
      const sy = oy - y[i] * s;
      let cls = mode[i] < classOfMode.length ? classOfMode[mode[i]] : C.CLASS_INDEX.nominal;
      if (cls === UNSEEN && sensed[i]) cls = SENSED;
      const size = flight[i] < largeById.length && largeById[flight[i]] ? 8.5 : 6;
      markerPath(paths[cls], sx, sy, vx[i], vy[i], size);
      if (cls === SENSED) {
        rings.moveTo(sx + size + 3, sy);
        rings.arc(sx, sy, size + 3, 0, 2 * Math.PI);
      }
    }
    ctx.lineJoin = "round";
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.lineWidth = 0.8;
    C.VEHICLE_CLASSES.forEach((c, k) => {
      ctx.fillStyle = c.color;
      ctx.fill(paths[k]);
      if (n <= OUTLINE_MAX) ctx.stroke(paths[k]);
    });
    ctx.strokeStyle = C.VEHICLE_CLASSES[SENSED].color;
    ctx.lineWidth = 1.2;
    ctx.stroke(rings);
    ctx.lineJoin = "miter";
    if (s >= LABEL_MIN_SCALE) this.vehicleLabels(ctx, vehicles, selected);
    if (selected >= 0) {
      const sx = ox + x[selected] * s;
      const sy = oy - y[selected] * s;
      ctx.beginPath();
      ctx.arc(sx, sy, 13, 0, 2 * Math.PI);
      ctx.strokeStyle = C.SELECTED;
      ctx.lineWidth = 2;
      ctx.stroke();
      label(ctx, idOf(vehicles, selected), sx + 16, sy - 10, { color: C.SELECTED, size: 12, bold: true });
    }
    return n;
  }

  /** Ids beside the vehicles on screen but the selected one (zoomed in only, at most MAX_LABELS). */
  vehicleLabels(ctx, vehicles, selected) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    let written = 0;
    for (let i = 0; i < vehicles.n && written < MAX_LABELS; i++) {
      const sx = ox + vehicles.x[i] * s;
      const sy = oy - vehicles.y[i] * s;
      if (i === selected || sx < 0 || sy < 0 || sx > this.view.width || sy > this.view.height) continue;
      label(ctx, idOf(vehicles, i), sx + 10, sy + 8, { color: "#3b4756", size: 10 });
      written += 1;
    }
  }

  /** A round-length bar (1, 2 or 5 x 10^n m) of about 120 px, bottom right. */
  scaleBar(ctx) {
    const view = this.view;
    const target = 120 / view.scale;
    const p = 10 ** Math.floor(Math.log10(target));
    const metres = [5, 2, 1].map((m) => m * p).find((m) => m <= target) ?? p;
    const px = metres * view.scale;
    const x1 = view.width - 24;
    const x0 = x1 - px;
    const y = view.height - 22;
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    ctx.fillRect(x0 - 8, y - 20, px + 16, 30);
    ctx.strokeStyle = C.LABEL;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x0, y - 5);
    ctx.lineTo(x0, y);
    ctx.lineTo(x1, y);
    ctx.lineTo(x1, y - 5);
    ctx.stroke();
    const text = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
    label(ctx, text, (x0 + x1) / 2, y - 10, { align: "center", color: C.LABEL, size: 11, halo: false });
  }

  polygon(points) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const path = new Path2D();
    points.forEach(([x, y], k) => (k ? path.lineTo(ox + x * s, oy - y * s) : path.moveTo(ox + x * s, oy - y * s)));
    path.closePath();
    return path;
  }
}

/**
 * Add an arrow (tip along the ground velocity, notched tail) of half-length `size` px to `path`. It ends
 * with a line back to the tip rather than closePath(), which costs time proportional to the whole path in
 * Chrome (10,000 markers: 300 ms against 1 ms).
 */
export function markerPath(path, sx, sy, vx, vy, size) {
  const speed = Math.sqrt(vx * vx + vy * vy);
  const ux = speed > STILL_MPS ? vx / speed : 0; // screen y points down: north is -y
  const uy = speed > STILL_MPS ? -vy / speed : -1;
  const w = size * 0.62;
  const tipX = sx + ux * size;
  const tipY = sy + uy * size;
  path.moveTo(tipX, tipY);
  path.lineTo(sx - ux * size * 0.7 - uy * w, sy - uy * size * 0.7 + ux * w);
  path.lineTo(sx - ux * size * 0.3, sy - uy * size * 0.3);
  path.lineTo(sx - ux * size * 0.7 + uy * w, sy - uy * size * 0.7 - ux * w);
  path.lineTo(tipX, tipY);
}

function idOf(vehicles, i) {
  return vehicles.names ? vehicles.names[i].slice(0, 8) : String(vehicles.flight[i]);
}

/** Text with a light halo, so it reads over any layer. */
function label(ctx, text, x, y, { color, size, bold = false, align = "left", halo = true }) {
  ctx.font = `${bold ? "600 " : ""}${size}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
  ctx.textAlign = align;
  ctx.textBaseline = "middle";
  if (halo) {
    ctx.strokeStyle = C.LABEL_HALO;
    ctx.lineWidth = 3;
    ctx.lineJoin = "round";
    ctx.strokeText(text, x, y);
    ctx.lineJoin = "miter";
  }
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
}

/** Whether a zone applies at `t` (one of its `active_s` intervals holds it). */
const isActive = (fence, t) => fence.active_s.some(([a, b]) => a <= t && t <= b);

/** An offscreen copy of some layers, repainted only when its key (or its image input) changes. */
class Cache {
  constructor() {
    this.canvas = new OffscreenCanvas(1, 1);
    this.ctx = this.canvas.getContext("2d");
    this.key = null;
    this.image = null;
  }

  resize(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.key = null;
  }

  paint(key, image, dpr, paint) {
    if (key === this.key && image === this.image) return;
    this.key = key;
    this.image = image;
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    paint(ctx);
  }
}
