/**
 * The vehicle layers: trails, oriented arrow markers (eVTOLs larger; white edge; a ring around sensed-only
 * tracks), ids beside them when zoomed in, and the selected vehicle's ring. Up to VECTOR_MAX vehicles are
 * vector paths (one Path2D per class: exact position and heading). Above, trails and markers are written
 * into a pixel buffer by the page itself (raster.js: lines, and markers pre-rasterised per class, size and
 * one of HEADINGS headings) and composited in one drawImage, because the software canvas needs ~40 ms to
 * rasterise 10,000 antialiased paths. Either way, later classes (colors.js order) are drawn on top.
 */

import * as C from "./colors.js";
import { label } from "./layers.js";
import { PixelLayer, packRgba, rasterise } from "./raster.js";

const UNSEEN = C.CLASS_INDEX.unseen;
const SENSED = C.CLASS_INDEX.sensed;
const NOMINAL = C.CLASS_INDEX.nominal;
const VECTOR_MAX = 2000; // more vehicles than this are stamped into the pixel buffer
const HEADINGS = 64; // stamp headings: 5.6 degrees apart (a power of two)
const SIZE_PX = 6; // half-length of a marker
const LARGE_SIZE_PX = 8.5; // of an eVTOL's
const RING_GAP_PX = 3; // the sensed-track ring's radius beyond the marker's half-length
const OUTLINE = "rgba(255, 255, 255, 0.9)";
const TRAIL_RGBA = packRgba(C.TRAIL);
const TRAIL_STEP_PX = 2; // stamped trails join points at least this far apart
const LABEL_MIN_SCALE = 0.15; // px per metre from which vehicles get their id written beside them
const MAX_LABELS = 400;
const STILL_MPS = 0.3; // slower than this a marker points north

/** Trails, markers, ids and the selected ring of the vehicles drawn, as vector paths or stamped pixels. */
export class VehicleLayer {
  constructor(view) {
    this.view = view;
    this.pixels = new PixelLayer();
    this.classes = new Uint8Array(1024); // marker class of each vehicle row, for the last draw
    this.order = new Int32Array(1024); // rows by class, for stamping
    this.stamps = null; // MarkerStamps of the current device-pixel ratio
  }

  /** Match the canvas (device px, `dpr` per CSS px). */
  resize(widthPx, heightPx, dpr) {
    this.pixels.resize(widthPx, heightPx, 2 * reachOf(LARGE_SIZE_PX + RING_GAP_PX, dpr));
  }

  /**
   * Trails and markers of `scene.vehicles` as `scene.layers` asks, ids when zoomed in, the selected
   * vehicle's ring (`scene.selected`, a row or -1); returns the number of markers drawn.
   */
  draw(ctx, dpr, scene) {
    const { vehicles, layers } = scene;
    const trails = layers.trails ? scene.trails : null;
    const classes = this.classify(vehicles, scene.classOfMode);
    if (vehicles.n > VECTOR_MAX) {
      this.pixels.begin();
      if (trails) this.stampTrails(trails, vehicles, dpr);
      if (layers.vehicles) this.stampMarkers(vehicles, classes, scene.largeById, dpr);
      this.pixels.composite(ctx);
    } else {
      if (trails) this.trailPaths(ctx, trails, vehicles);
      if (layers.vehicles) this.markerPaths(ctx, vehicles, classes, scene.largeById);
    }
    if (!layers.vehicles) return 0;
    if (this.view.scale >= LABEL_MIN_SCALE) this.labels(ctx, vehicles, scene.selected);
    if (scene.selected >= 0) this.selectedRing(ctx, vehicles, scene.selected);
    return vehicles.n;
  }

  /** Each row's marker class: by mode; a non-cooperative vehicle the network senses is a sensed track. */
  classify({ n, mode, sensed }, classOfMode) {
    if (this.classes.length < n) this.classes = new Uint8Array(Math.max(n, this.classes.length * 2));
    const classes = this.classes;
    for (let i = 0; i < n; i++) {
      const cls = mode[i] < classOfMode.length ? classOfMode[mode[i]] : NOMINAL;
      classes[i] = cls === UNSEEN && sensed[i] ? SENSED : cls;
    }
    return classes;
  }

  trailPaths(ctx, trails, vehicles) {
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

  /**
   * The trails as 1 CSS px lines in the pixel buffer (before the markers, see PixelLayer.line); a point
   * closer than TRAIL_STEP_PX to the last one drawn is skipped, but never a trail's end.
   */
  stampTrails(trails, vehicles, dpr) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const L = trails.length;
    const step2 = (TRAIL_STEP_PX * dpr) ** 2;
    for (let i = 0; i < Math.min(trails.n, vehicles.n); i++) {
      let ax = (ox + vehicles.x[i] * s) * dpr;
      let ay = (oy - vehicles.y[i] * s) * dpr;
      const count = trails.count[i];
      for (let k = 0; k < count; k++) {
        const bx = (ox + trails.x[i * L + k] * s) * dpr;
        const by = (oy - trails.y[i * L + k] * s) * dpr;
        if (k < count - 1 && (bx - ax) ** 2 + (by - ay) ** 2 < step2) continue;
        this.pixels.line(ax, ay, bx, by, dpr, TRAIL_RGBA);
        ax = bx;
        ay = by;
      }
    }
  }

  markerPaths(ctx, vehicles, classes, largeById) {
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const paths = C.VEHICLE_CLASSES.map(() => new Path2D());
    const rings = new Path2D();
    const { n, x, y, vx, vy } = vehicles;
    for (let i = 0; i < n; i++) {
      const sx = ox + x[i] * s;
      const sy = oy - y[i] * s;
      const size = isLarge(vehicles, i, largeById) ? LARGE_SIZE_PX : SIZE_PX;
      markerPath(paths[classes[i]], sx, sy, vx[i], vy[i], size);
      if (classes[i] === SENSED) ringPath(rings, sx, sy, size + RING_GAP_PX);
    }
    C.VEHICLE_CLASSES.forEach((c, k) => fillMarkers(ctx, paths[k], c.color, 1));
    strokeRings(ctx, rings, 1);
  }

  /** The markers as stamps in the pixel buffer, class after class, then the rings. */
  stampMarkers(vehicles, classes, largeById, dpr) {
    if (this.stamps?.dpr !== dpr) this.stamps = new MarkerStamps(dpr);
    const [ox, oy] = this.view.origin();
    const s = this.view.scale;
    const { n, x, y, vx, vy } = vehicles;
    const stamps = C.VEHICLE_CLASSES.map((_, k) => [false, true].map((large) => this.stamps.arrows(k, large)));
    for (const i of this.byClass(classes, n)) {
      const heading = headingOf(vx[i], vy[i]);
      const stamp = stamps[classes[i]][isLarge(vehicles, i, largeById) ? 1 : 0][heading];
      this.pixels.stamp(stamp, Math.floor((ox + x[i] * s) * dpr), Math.floor((oy - y[i] * s) * dpr));
    }
    const rings = [this.stamps.ring(false), this.stamps.ring(true)];
    for (let i = 0; i < n; i++) {
      if (classes[i] !== SENSED) continue;
      const ring = rings[isLarge(vehicles, i, largeById) ? 1 : 0];
      this.pixels.stamp(ring, Math.floor((ox + x[i] * s) * dpr), Math.floor((oy - y[i] * s) * dpr));
    }
  }

  /** Rows 0..n-1 ordered by class (a counting sort), in a reused array. */
  byClass(classes, n) {
    if (this.order.length < n) this.order = new Int32Array(Math.max(n, this.order.length * 2));
    const start = new Int32Array(C.VEHICLE_CLASSES.length + 1);
    for (let i = 0; i < n; i++) start[classes[i] + 1] += 1;
    for (let k = 1; k < start.length; k++) start[k] += start[k - 1];
    for (let i = 0; i < n; i++) this.order[start[classes[i]]++] = i;
    return this.order.subarray(0, n);
  }

  /** Ids beside the vehicles on screen but the selected one (at most MAX_LABELS). */
  labels(ctx, vehicles, selected) {
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

  selectedRing(ctx, vehicles, i) {
    const [sx, sy] = this.view.project(vehicles.x[i], vehicles.y[i]);
    ctx.beginPath();
    ctx.arc(sx, sy, 13, 0, 2 * Math.PI);
    ctx.strokeStyle = C.SELECTED;
    ctx.lineWidth = 2;
    ctx.stroke();
    label(ctx, idOf(vehicles, i), sx + 16, sy - 10, { color: C.SELECTED, size: 12, bold: true });
  }
}

/** Marker stamps for one device-pixel ratio, rasterised when first needed. */
class MarkerStamps {
  constructor(dpr) {
    this.dpr = dpr;
    this.cache = new Map();
  }

  /** HEADINGS stamps of class `cls` (index `headingOf(vx, vy)`), eVTOL-sized when `large`. */
  arrows(cls, large) {
    const key = `${cls}/${large}`;
    if (!this.cache.has(key)) {
      const size = large ? LARGE_SIZE_PX : SIZE_PX;
      const reach = reachOf(size, this.dpr);
      const paint = (ctx, cx, cy, k) => {
        const path = new Path2D();
        const angle = (2 * Math.PI * k) / HEADINGS;
        markerPath(path, cx, cy, Math.sin(angle), Math.cos(angle), size * this.dpr);
        fillMarkers(ctx, path, C.VEHICLE_CLASSES[cls].color, this.dpr);
      };
      this.cache.set(key, rasterise(HEADINGS, reach, paint));
    }
    return this.cache.get(key);
  }

  /** The sensed-track ring around a marker, eVTOL-sized when `large`. */
  ring(large) {
    const key = `ring/${large}`;
    if (!this.cache.has(key)) {
      const radius = (large ? LARGE_SIZE_PX : SIZE_PX) + RING_GAP_PX;
      const paint = (ctx, cx, cy) => {
        const path = new Path2D();
        ringPath(path, cx, cy, radius * this.dpr);
        strokeRings(ctx, path, this.dpr);
      };
      this.cache.set(key, rasterise(1, reachOf(radius, this.dpr), paint)[0]);
    }
    return this.cache.get(key);
  }
}

/** Stamp index of a ground velocity: the nearest of HEADINGS bearings; north when (nearly) still. */
function headingOf(vx, vy) {
  if (vx * vx + vy * vy <= STILL_MPS * STILL_MPS) return 0;
  return Math.round((Math.atan2(vx, vy) * HEADINGS) / (2 * Math.PI)) & (HEADINGS - 1);
}

/** Device px from a stamp's centre pixel to its furthest: a shape of `radius` CSS px, its edge and smoothing. */
const reachOf = (radius, dpr) => Math.ceil((radius + 1) * dpr) + 1;

const isLarge = (vehicles, i, largeById) => {
  const id = vehicles.flight[i];
  return id < largeById.length && largeById[id] === 1;
};

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

/** Fill marker paths in `color` with their white edge; `px` is the device pixels per CSS pixel drawn. */
function fillMarkers(ctx, path, color, px) {
  ctx.fillStyle = color;
  ctx.fill(path);
  ctx.lineJoin = "round";
  ctx.strokeStyle = OUTLINE;
  ctx.lineWidth = 0.8 * px;
  ctx.stroke(path);
  ctx.lineJoin = "miter";
}

function ringPath(path, sx, sy, radius) {
  path.moveTo(sx + radius, sy);
  path.arc(sx, sy, radius, 0, 2 * Math.PI);
}

function strokeRings(ctx, path, px) {
  ctx.strokeStyle = C.VEHICLE_CLASSES[SENSED].color;
  ctx.lineWidth = 1.2 * px;
  ctx.stroke(path);
}

function idOf(vehicles, i) {
  return vehicles.names ? vehicles.names[i].slice(0, 8) : String(vehicles.flight[i]);
}
