/**
 * Drawing many small features without the canvas rasteriser: a pixel buffer over the canvas and a margin
 * (device pixels, one 32-bit RGBA per pixel, not premultiplied as ImageData is) into which the page writes
 * antialiased 1-colour lines and pre-rasterised stamps with typed-array stores, then composites with one
 * putImageData and one drawImage. In headless software rendering 10,000 antialiased marker paths cost the
 * canvas about 40 ms; stamping them here costs a few. Only the rows written last time are cleared.
 */

/**
 * One pre-rasterised shape: its non-transparent pixels around a centre pixel, the opaque ones first (they
 * are stored without reading what is there; only the antialiased rest is blended).
 */
class Stamp {
  constructor(dx, dy, rgba, reach) {
    const pixels = Array.from(rgba.keys());
    const solid = pixels.filter((k) => rgba[k] >>> 24 === 255);
    const order = [...solid, ...pixels.filter((k) => rgba[k] >>> 24 !== 255)];
    this.dx = Int16Array.from(order, (k) => dx[k]); // column offset from the centre pixel
    this.dy = Int16Array.from(order, (k) => dy[k]);
    this.rgba = Int32Array.from(order, (k) => rgba[k]); // as the buffer stores it
    this.opaque = solid.length; // the first this many
    this.reach = reach; // no pixel is further than this (px) from the centre along x or y
    this.width = -1;
    this.offsets = null;
  }

  /** Index offsets into a buffer `width` pixels wide (cached for the last width). */
  offsetsFor(width) {
    if (width !== this.width) {
      this.offsets = Int32Array.from(this.dx, (x, k) => this.dy[k] * width + x);
      this.width = width;
    }
    return this.offsets;
  }
}

/**
 * `count` stamps painted by `paint(ctx, cx, cy, k)` (device px; the centre is that of pixel (reach,
 * reach)) into one strip, read back once and kept as their visible pixels.
 */
export function rasterise(count, reach, paint) {
  const cell = 2 * reach + 1;
  const canvas = new OffscreenCanvas(cell * count, cell);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  for (let k = 0; k < count; k++) paint(ctx, k * cell + reach + 0.5, reach + 0.5, k);
  const pixels = new Int32Array(ctx.getImageData(0, 0, canvas.width, cell).data.buffer);
  const stamps = [];
  for (let k = 0; k < count; k++) {
    const dx = [];
    const dy = [];
    const rgba = [];
    for (let y = 0; y < cell; y++) {
      for (let x = 0; x < cell; x++) {
        const p = pixels[y * canvas.width + k * cell + x];
        if (p >>> 24) {
          dx.push(x - reach);
          dy.push(y - reach);
          rgba.push(p);
        }
      }
    }
    stamps.push(new Stamp(dx, dy, rgba, reach));
  }
  return stamps;
}

/** A CSS colour "rgb(a)(r, g, b[, a])" or "#rrggbb" packed as the buffer stores it. */
export function packRgba(css) {
  const [r, g, b, a = 1] = css.startsWith("#")
    ? [1, 3, 5].map((k) => parseInt(css.slice(k, k + 2), 16))
    : css.match(/[\d.]+/g).map(Number);
  return (Math.round(a * 255) << 24) | (b << 16) | (g << 8) | r;
}

/** The pixel buffer over the canvas: begin(), lines, stamps, composite(ctx). */
export class PixelLayer {
  constructor() {
    this.canvas = new OffscreenCanvas(1, 1);
    this.ctx = this.canvas.getContext("2d");
    this.resize(1, 1, 0);
  }

  /**
   * Match the canvas drawn on (device px). The buffer extends `margin` px beyond it on every side, so a
   * stamp of reach up to margin / 2 that shows at all lies wholly inside it and is copied unchecked.
   */
  resize(width, height, margin) {
    this.width = width;
    this.height = height;
    this.margin = margin;
    this.stride = width + 2 * margin;
    this.rows = height + 2 * margin;
    this.canvas.width = width;
    this.canvas.height = height;
    this.image = this.ctx.createImageData(this.stride, this.rows);
    this.px = new Int32Array(this.image.data.buffer); // int32, not uint32: V8 keeps the values unboxed
    this.box = [0, 0, 0, 0];
  }

  /** Start a new picture: the rows the last one touched are cleared. */
  begin() {
    const [, y0, , y1] = this.touched();
    if (y1 > y0) this.px.fill(0, y0 * this.stride, y1 * this.stride);
    this.box = [Infinity, Infinity, -Infinity, -Infinity]; // x0, y0, x1, y1 touched (buffer px, unclamped)
  }

  /** The box touched, within the buffer: [x0, y0, x1, y1) whole pixels (empty when y1 <= y0). */
  touched() {
    const inside = (v, end) => Math.min(end, Math.max(0, v));
    const [x0, y0, x1, y1] = this.box;
    const { stride, rows } = this;
    return [
      inside(Math.floor(x0), stride),
      inside(Math.floor(y0), rows),
      inside(Math.ceil(x1), stride),
      inside(Math.ceil(y1), rows),
    ];
  }

  grow(x0, y0, x1, y1) {
    const box = this.box;
    if (x0 < box[0]) box[0] = x0;
    if (y0 < box[1]) box[1] = y0;
    if (x1 > box[2]) box[2] = x1;
    if (y1 > box[3]) box[3] = y1;
  }

  /**
   * An antialiased line `width` px wide of colour `rgba` (packRgba) between canvas points. Where lines of a
   * picture cross, the highest coverage stays, as in one stroked path; so draw every line before any stamp.
   */
  line(x0, y0, x1, y1, width, rgba) {
    const ax = x0 + this.margin;
    const ay = y0 + this.margin;
    const bx = x1 + this.margin;
    const by = y1 + this.margin;
    const W = this.stride;
    const H = this.rows;
    const half = width / 2;
    if ((ax < -half && bx < -half) || (ax > W + half && bx > W + half)) return;
    if ((ay < -half && by < -half) || (ay > H + half && by > H + half)) return;
    const pad = width + 1; // beyond the band a line covers across its direction (at most width / sqrt(2))
    this.grow(Math.min(ax, bx) - pad, Math.min(ay, by) - pad, Math.max(ax, bx) + pad, Math.max(ay, by) + pad);
    // Walk the major axis (u) pixel by pixel; across it (v), cover the pixels the line's band overlaps.
    const xMajor = Math.abs(bx - ax) >= Math.abs(by - ay);
    const forward = xMajor ? ax <= bx : ay <= by;
    const u0 = xMajor ? (forward ? ax : bx) : forward ? ay : by;
    const u1 = xMajor ? (forward ? bx : ax) : forward ? by : ay;
    const v0 = xMajor ? (forward ? ay : by) : forward ? ax : bx;
    const v1 = xMajor ? (forward ? by : ay) : forward ? bx : ax;
    if (u1 - u0 < 1e-6) return;
    const slope = (v1 - v0) / (u1 - u0);
    const band = half * Math.sqrt(1 + slope * slope);
    const vMax = xMajor ? H - 1 : W - 1;
    const uStride = xMajor ? 1 : W;
    const vStride = xMajor ? W : 1;
    const end = Math.min(xMajor ? W : H, Math.ceil(u1 - 0.5));
    const px = this.px;
    const rgb = rgba & 0xffffff;
    const alpha = rgba >>> 24;
    for (let u = Math.max(0, Math.ceil(u0 - 0.5)); u < end; u++) {
      const vc = v0 + (u + 0.5 - u0) * slope;
      const lo = vc - band;
      const hi = vc + band;
      const vEnd = Math.min(vMax, Math.floor(hi));
      for (let v = Math.max(0, Math.floor(lo)); v <= vEnd; v++) {
        const a = ((Math.min(v + 1, hi) - Math.max(v, lo)) * alpha) | 0;
        const k = u * uStride + v * vStride;
        if (a > px[k] >>> 24) px[k] = (a << 24) | rgb;
      }
    }
  }

  /** `stamp` with its centre pixel at canvas pixel (x, y), drawn over what is there (non-premultiplied). */
  stamp(stamp, x, y) {
    const r = stamp.reach;
    const cx = x + this.margin;
    const cy = y + this.margin;
    if (cx - r < 0 || cy - r < 0 || cx + r >= this.stride || cy + r >= this.rows) return; // not on the canvas
    this.grow(cx - r, cy - r, cx + r + 1, cy + r + 1);
    const px = this.px;
    const rgba = stamp.rgba;
    const offsets = stamp.offsetsFor(this.stride);
    const centre = cy * this.stride + cx;
    const opaque = stamp.opaque;
    for (let k = 0; k < opaque; k++) px[centre + offsets[k]] = rgba[k];
    for (let k = opaque; k < rgba.length; k++) {
      const i = centre + offsets[k];
      const src = rgba[k];
      const sa = src >>> 24;
      const dst = px[i];
      const da = dst >>> 24;
      if (da === 0) {
        px[i] = src;
        continue;
      }
      const wd = (da * (255 - sa)) / 255; // the destination's weight
      const oa = sa + wd;
      const f = 1 / oa;
      const red = ((src & 255) * sa + (dst & 255) * wd) * f;
      const green = (((src >> 8) & 255) * sa + ((dst >> 8) & 255) * wd) * f;
      const blue = (((src >> 16) & 255) * sa + ((dst >> 16) & 255) * wd) * f;
      px[i] = ((oa + 0.5) << 24) | ((blue + 0.5) << 16) | ((green + 0.5) << 8) | (red + 0.5);
    }
  }

  /** Put the picture on `ctx` (any transform) over what it holds: only the part touched is copied. */
  composite(ctx) {
    const m = this.margin;
    const [bx0, by0, bx1, by1] = this.touched();
    const x0 = Math.max(0, bx0 - m);
    const y0 = Math.max(0, by0 - m);
    const w = Math.min(this.width, bx1 - m) - x0;
    const h = Math.min(this.height, by1 - m) - y0;
    if (w <= 0 || h <= 0) return;
    this.ctx.putImageData(this.image, -m, -m, x0 + m, y0 + m, w, h);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.canvas, x0, y0, w, h, x0, y0, w, h);
    ctx.restore();
  }
}
