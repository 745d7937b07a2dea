/**
 * The map's layers other than vehicles, each a function drawing on a 2D context in CSS pixels through
 * `view`: the static ones (region, coverage image, grid lines, geofences, gNB sites, hubs, scale bar),
 * cell occupancy, operational intents and conflict/LoS links. Features of one style share one path, so a
 * layer is a handful of fill or stroke calls; draw.js decides the order and what is cached.
 */

import * as C from "./colors.js";

/** The managed region's box; translucent over background tiles, so the map shows through. */
export function region(ctx, view, [x0, y0, x1, y1], overTiles) {
  const [sx0, sy0] = view.project(x0, y1);
  const [sx1, sy1] = view.project(x1, y0);
  ctx.fillStyle = C.REGION_FILL;
  ctx.globalAlpha = overTiles ? 0.3 : 1;
  ctx.fillRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = C.REGION_EDGE;
  ctx.lineWidth = 1;
  ctx.strokeRect(sx0, sy0, sx1 - sx0, sy1 - sy0);
}

/** The SINR image (coverage.js) stretched over its grid's extent. */
export function coverage(ctx, view, { image, bounds: [x0, y0, x1, y1] }) {
  const [sx0, sy0] = view.project(x0, y1);
  const [sx1, sy1] = view.project(x1, y0);
  ctx.imageSmoothingEnabled = false; // one square per grid point: the data's real resolution
  ctx.drawImage(image.canvas, sx0, sy0, sx1 - sx0, sy1 - sy0);
  ctx.imageSmoothingEnabled = true;
}

/** Faint cell edges, while cells are 5 px or more across. */
export function gridLines(ctx, view, grid) {
  const xs = grid.x_edges_m;
  const ys = grid.y_edges_m;
  const [ox, oy] = view.origin();
  const s = view.scale;
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

/** Zones by restriction; dashed and dim when not active at `t`; ids of the large ones. */
export function geofences(ctx, view, fences, t) {
  for (const fence of fences) {
    const active = isActive(fence, t);
    const color = C.RESTRICTION[fence.restriction] ?? C.RESTRICTION.NO_RESTRICTION;
    const path = polygon(view, fence.outline_m);
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
  for (const fence of fences) zoneLabel(ctx, view, fence);
}

/** The zone's id at its vertex mean, when the zone is large enough on screen and its centre visible. */
function zoneLabel(ctx, view, fence) {
  const pts = fence.outline_m.map(([x, y]) => view.project(x, y));
  const xs = pts.map((p) => p[0]);
  if (Math.max(...xs) - Math.min(...xs) < 90) return;
  const cx = xs.reduce((a, b) => a + b, 0) / pts.length;
  const cy = pts.reduce((a, p) => a + p[1], 0) / pts.length;
  if (cx < 0 || cy < 0 || cx > view.width || cy > view.height) return;
  label(ctx, fence.id, cx, cy, { align: "center", color: C.RESTRICTION[fence.restriction] ?? C.LABEL, size: 11 });
}

/** gNB sites as small triangles, one path. */
export function sites(ctx, view, siteList) {
  if (!siteList.length) return;
  const [ox, oy] = view.origin();
  const s = view.scale;
  const r = s > 0.1 ? 4.5 : 2.5; // a dense deployment stays a faint texture when zoomed out
  const path = new Path2D();
  for (const site of siteList) {
    const x = ox + site.x_m * s;
    const y = oy - site.y_m * s;
    path.moveTo(x, y - r); // no closePath(): a fill closes each triangle (see markers.js markerPath)
    path.lineTo(x + r * 0.87, y + r * 0.5);
    path.lineTo(x - r * 0.87, y + r * 0.5);
  }
  ctx.fillStyle = C.SITE;
  ctx.fill(path);
}

/** Hubs and vertiports: squares with their names. */
export function hubs(ctx, view, hubList) {
  for (const hub of hubList) {
    const [x, y] = view.project(hub.x_m, hub.y_m);
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

/** A round-length bar (1, 2 or 5 x 10^n m) of about 120 px, bottom right (above the tile credit line). */
export function scaleBar(ctx, view) {
  const target = 120 / view.scale;
  const p = 10 ** Math.floor(Math.log10(target));
  const metres = [5, 2, 1].map((m) => m * p).find((m) => m <= target) ?? p;
  const px = metres * view.scale;
  const x1 = view.width - 24;
  const x0 = x1 - px;
  const y = view.height - 28;
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

/** Cells filled by occupancy step (cells.js ratios), one path per step. */
export function cells(ctx, view, grid, ratio) {
  const xs = grid.x_edges_m;
  const ys = grid.y_edges_m;
  const ny = ys.length - 1;
  const [ox, oy] = view.origin();
  const s = view.scale;
  const paths = C.OCCUPANCY_STEPS.map(() => new Path2D());
  for (let c = 0; c < ratio.length; c++) {
    const r = ratio[c];
    if (r <= 0) continue;
    const i = Math.floor(c / ny);
    const j = c - i * ny;
    const step = C.OCCUPANCY_STEPS.findIndex((st) => r <= st.upTo);
    const [x0, x1, y0, y1] = [ox + xs[i] * s, ox + xs[i + 1] * s, oy - ys[j + 1] * s, oy - ys[j] * s];
    paths[step].moveTo(x0, y0); // not rect(): it closes the subpath, which is slow (see markers.js markerPath)
    paths[step].lineTo(x1, y0);
    paths[step].lineTo(x1, y1);
    paths[step].lineTo(x0, y1);
  }
  C.OCCUPANCY_STEPS.forEach((st, k) => {
    ctx.fillStyle = st.color;
    ctx.fill(paths[k]);
  });
}

/**
 * Replay intents: the planned path buffered by its lateral buffer, as a translucent round-jointed stroke
 * 2 * buffer wide and a thin outline of the union. Per width: the outline colour stroked 2 px wider, the
 * inside cut out, then filled, so overlapping corridors neither darken nor show inner edges.
 */
export function corridors(ctx, view, corridorList) {
  const [ox, oy] = view.origin();
  const s = view.scale;
  const byWidth = new Map();
  const selected = [];
  for (const c of corridorList) {
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
export function volumes(ctx, view, volumeList) {
  for (const v of volumeList) {
    const path = polygon(view, v.outline);
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

const LINK_STYLES = { conflict: [1.5, C.LINK.conflict, [5, 4]], los: [2, C.LINK.los, []], nmac: [4, C.LINK.nmac, []] };

/** A line between the two vehicles of each open episode: conflict dashed amber, LoS red, NMAC thick. */
export function links(ctx, view, linkList, vehicles) {
  if (!linkList.length) return;
  const paths = { conflict: new Path2D(), los: new Path2D(), nmac: new Path2D() };
  const [ox, oy] = view.origin();
  const s = view.scale;
  for (const link of linkList) {
    const a = vehicles.indexOf(link.a);
    const b = vehicles.indexOf(link.b);
    if (a < 0 || b < 0) continue;
    const path = paths[link.kind === "los" ? (link.nmac ? "nmac" : "los") : "conflict"];
    path.moveTo(ox + vehicles.x[a] * s, oy - vehicles.y[a] * s);
    path.lineTo(ox + vehicles.x[b] * s, oy - vehicles.y[b] * s);
  }
  ctx.lineCap = "round";
  for (const [kind, [width, color, dash]] of Object.entries(LINK_STYLES)) {
    ctx.lineWidth = width;
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.stroke(paths[kind]);
  }
  ctx.setLineDash([]);
  ctx.lineCap = "butt";
}

/** Text with a light halo, so it reads over any layer. */
export function label(ctx, text, x, y, { color, size, bold = false, align = "left", halo = true }) {
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
export const isActive = (fence, t) => fence.active_s.some(([a, b]) => a <= t && t <= b);

/** A closed polygon of world points, in screen pixels. */
function polygon(view, points) {
  const [ox, oy] = view.origin();
  const s = view.scale;
  const path = new Path2D();
  points.forEach(([x, y], k) => (k ? path.lineTo(ox + x * s, oy - y * s) : path.moveTo(ox + x * s, oy - y * s)));
  path.closePath();
  return path;
}
