/**
 * The map's view of the world: local east-north-up metres to screen pixels (a scale and a centre, north
 * up), and the pointer gestures that change it: drag to pan, wheel to zoom around the cursor, a click
 * without drag to pick. The canvas fills the window, so canvas pixels are page (client) pixels.
 */

const MIN_SCALE = 1e-4; // px per metre: a whole country
const MAX_SCALE = 20; // px per metre: a few metres across the screen
const DRAG_PX = 4; // a press that moves less than this is a click

/** World metres to screen pixels: centre, scale (north up), fitting, zooming and panning. */
export class View {
  constructor() {
    this.cx = 0; // world point (m) at the screen centre
    this.cy = 0;
    this.scale = 0.05; // CSS px per metre
    this.width = 1; // CSS px
    this.height = 1;
  }

  /** Screen x of the world origin and screen y of y = 0: sx = ox + x * scale, sy = oy - y * scale. */
  origin() {
    return [this.width / 2 - this.cx * this.scale, this.height / 2 + this.cy * this.scale];
  }

  /** Page (client) pixels of a world point. */
  project(x, y) {
    const [ox, oy] = this.origin();
    return [ox + x * this.scale, oy - y * this.scale];
  }

  /** World metres under a page pixel. */
  unproject(sx, sy) {
    const [ox, oy] = this.origin();
    return [(sx - ox) / this.scale, (oy - sy) / this.scale];
  }

  /**
   * Show the world box [x0, y0, x1, y1] in the free part of the screen (`insets` px hidden by panels on
   * each side), as large as fits.
   */
  fit([x0, y0, x1, y1], insets = { left: 0, top: 0, right: 0, bottom: 0 }) {
    const freeW = Math.max(50, this.width - insets.left - insets.right);
    const freeH = Math.max(50, this.height - insets.top - insets.bottom);
    this.scale = clamp(Math.min(freeW / Math.max(x1 - x0, 1), freeH / Math.max(y1 - y0, 1)), MIN_SCALE, MAX_SCALE);
    const freeCx = insets.left + freeW / 2;
    const freeCy = insets.top + freeH / 2;
    this.cx = (x0 + x1) / 2 - (freeCx - this.width / 2) / this.scale;
    this.cy = (y0 + y1) / 2 + (freeCy - this.height / 2) / this.scale;
  }

  /** Half the side (m) of the largest square the free part of the screen (within `insets`) shows. */
  shownHalfSpanM(insets) {
    return Math.min(this.width - insets.left - insets.right, this.height - insets.top - insets.bottom) / 2 / this.scale;
  }

  /** Centre the free part of the screen on `points` ([x, y] m): `minHalfSpanM` around them at least, 100 m spare. */
  centreOn(points, insets, minHalfSpanM) {
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
    const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
    const half = Math.max(
      minHalfSpanM,
      (Math.max(...xs) - Math.min(...xs)) / 2 + 100,
      (Math.max(...ys) - Math.min(...ys)) / 2 + 100,
    );
    this.fit([cx - half, cy - half, cx + half, cy + half], insets);
  }

  /** Zoom by `factor` keeping the world point under (sx, sy) where it is. */
  zoomAt(sx, sy, factor) {
    const [x, y] = this.unproject(sx, sy);
    this.scale = clamp(this.scale * factor, MIN_SCALE, MAX_SCALE);
    this.cx = x - (sx - this.width / 2) / this.scale;
    this.cy = y + (sy - this.height / 2) / this.scale;
  }

  panBy(dxPx, dyPx) {
    this.cx -= dxPx / this.scale;
    this.cy += dyPx / this.scale;
  }
}

/**
 * Wire drag, wheel and click on `canvas` to `view`; `onChange()` after the view moved, `onClick(sx, sy)`
 * for a press released without dragging.
 */
export function attachPointer(canvas, view, { onChange, onClick }) {
  let press = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    press = { id: e.pointerId, x: e.clientX, y: e.clientY, lastX: e.clientX, lastY: e.clientY, dragging: false };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!press || e.pointerId !== press.id) return;
    if (!press.dragging && Math.hypot(e.clientX - press.x, e.clientY - press.y) >= DRAG_PX) {
      press.dragging = true;
      canvas.classList.add("dragging");
    }
    if (press.dragging) {
      view.panBy(e.clientX - press.lastX, e.clientY - press.lastY);
      onChange();
    }
    press.lastX = e.clientX;
    press.lastY = e.clientY;
  });
  const release = (e) => {
    if (!press || e.pointerId !== press.id) return;
    if (!press.dragging && e.type === "pointerup") onClick(e.clientX, e.clientY);
    canvas.classList.remove("dragging");
    press = null;
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const lines = e.deltaMode === WheelEvent.DOM_DELTA_LINE ? 40 : 1;
      view.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * lines * 0.0015));
      onChange();
    },
    { passive: false },
  );
}

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
