/**
 * The radio-coverage layer: the run's median SINR grid at one altitude (GET .../coverage), turned into an
 * image once per fetch and link (one pixel per grid cell, drawn scaled over the grid's extent), and its
 * colour legend. The colour range follows the data (1st-99th percentile, whole 5 dB), so DL's narrow
 * interference-limited spread stays readable; the legend states the range.
 */

import { getJSON } from "./api.js";
import { rampRgb } from "./colors.js";

const ALPHA = 120; // of 255: the map stays visible underneath
const MIN_RANGE_DB = 10;

export class Coverage {
  constructor(path) {
    this.path = path; // e.g. /replay/v1/runs/demo/coverage
    this.data = null;
    this.images = {};
  }

  /** Fetch the grid at `altitudeM` (a new altitude replaces the images). */
  async load(altitudeM) {
    const data = await getJSON(`${this.path}?altitude_m=${encodeURIComponent(altitudeM)}`);
    this.data = data;
    this.images = {};
    return this;
  }

  /** World box [x0, y0, x1, y1] of the grid. */
  bounds() {
    const { x_edges_m: x, y_edges_m: y } = this.data;
    return [x[0], y[0], x.at(-1), y.at(-1)];
  }

  /** `{canvas, lo, hi}` of link `dl` or `ul`: rows flipped so north is up, colours over [lo, hi] dB. */
  image(link) {
    if (!this.images[link]) {
      const rows = this.data[`${link}_sinr_db`];
      const ny = rows.length;
      const nx = ny ? rows[0].length : 0;
      const [lo, hi] = range(rows.flat());
      const canvas = new OffscreenCanvas(Math.max(nx, 1), Math.max(ny, 1));
      const ctx = canvas.getContext("2d");
      const pixels = ctx.createImageData(canvas.width, canvas.height);
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++) {
          const [r, g, b] = rampRgb((rows[j][i] - lo) / (hi - lo));
          const p = ((ny - 1 - j) * nx + i) * 4;
          pixels.data.set([r, g, b, Number.isFinite(rows[j][i]) ? ALPHA : 0], p);
        }
      }
      ctx.putImageData(pixels, 0, 0);
      this.images[link] = { canvas, lo, hi };
    }
    return this.images[link];
  }
}

/** [lo, hi] dB: the 1st and 99th percentiles, widened to whole 5 dB and to at least MIN_RANGE_DB. */
function range(values) {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!finite.length) return [0, MIN_RANGE_DB];
  const lo = Math.floor(finite[Math.floor(0.01 * (finite.length - 1))] / 5) * 5;
  const hi = Math.max(Math.ceil(finite[Math.ceil(0.99 * (finite.length - 1))] / 5) * 5, lo + MIN_RANGE_DB);
  return [lo, hi];
}

/** Draw the ramp and its end values on the legend canvas (device-pixel sharp). */
export function drawCoverageLegend(canvas, { lo, hi }, link) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 200;
  const h = canvas.clientHeight || 30;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const gradient = ctx.createLinearGradient(0, 0, w, 0);
  for (let k = 0; k <= 10; k++) {
    const [r, g, b] = rampRgb(k / 10);
    gradient.addColorStop(k / 10, `rgb(${r},${g},${b})`);
  }
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, w, 10);
  ctx.fillStyle = "#5f6c7a";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText(`${lo} dB`, 0, 14);
  ctx.textAlign = "center";
  ctx.fillText(`${link.toUpperCase()} SINR`, w / 2, 14);
  ctx.textAlign = "right";
  ctx.fillText(`${hi} dB`, w, 14);
}
