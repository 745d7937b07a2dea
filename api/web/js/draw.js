/**
 * Canvas drawing of one frame of the map, bottom to top: background tiles (when the server names a tile
 * source), region, coverage image, grid lines, geofences, gNB sites, hubs and scale bar (an offscreen copy,
 * repainted when the view, a zone's activity or the tiles loaded change), cell occupancy, operational
 * intents (another copy), conflict/LoS links, then trails and vehicles (markers.js). The layers themselves
 * are layers.js's; nothing is a DOM node. Drawing is in CSS pixels on a devicePixelRatio-sized canvas.
 */

import * as C from "./colors.js";
import * as L from "./layers.js";
import { VehicleLayer } from "./markers.js";

/** Draws the scene main.js builds onto the map canvas, layer by layer (see the module note). */
export class Renderer {
  constructor(canvas, view) {
    this.canvas = canvas;
    this.view = view;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.base = new Cache(); // tiles, region, coverage, grid lines, geofences, sites, hubs, scale bar
    this.intents = new Cache(); // replay corridors: change only at take-offs and landings
    this.vehicles = new VehicleLayer(view);
    this.tiles = null; // tiles.js TileLayer, when the map has a tile source
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
    this.vehicles.resize(this.canvas.width, this.canvas.height, this.dpr);
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
    const active = (f) => (L.isActive(f, scene.geofenceT) ? 1 : 0);
    const fences = map && layers.geofences ? map.geofences.map(active).join("") : "";
    const coverage = layers.coverage ? scene.coverage : null;
    const baseKey = [viewKey, map?.run ?? map?.region, fences, layers.cells, layers.sites, layers.hubs];
    baseKey.push(this.tiles?.generation);
    this.base.paint(baseKey.join("/"), coverage?.image, dpr, (c) => this.paintBase(c, map, layers, coverage, scene));
    this.base.copyTo(ctx, dpr);
    if (!map) return 0;
    if (layers.cells && scene.cellRatio) L.cells(ctx, view, map.grid, scene.cellRatio);
    if (layers.intents && scene.corridors.length) {
      const ids = scene.corridors.map((c) => (c.selected ? `*${c.id}` : c.id)).join(",");
      this.intents.paint(`${viewKey}/${ids}`, null, dpr, (c) => L.corridors(c, view, scene.corridors));
      this.intents.copyTo(ctx, dpr);
    }
    if (layers.intents) L.volumes(ctx, view, scene.volumes);
    if (!scene.vehicles) return 0;
    if (layers.links) L.links(ctx, view, scene.links, scene.vehicles);
    return this.vehicles.draw(ctx, dpr, scene);
  }

  paintBase(ctx, map, layers, coverage, scene) {
    const view = this.view;
    ctx.fillStyle = C.BACKGROUND;
    ctx.fillRect(0, 0, view.width, view.height);
    if (!map) return;
    if (this.tiles) this.tiles.draw(ctx, view, this.dpr);
    L.region(ctx, view, map.bounds_m, this.tiles !== null);
    if (coverage) L.coverage(ctx, view, coverage);
    if (layers.cells) L.gridLines(ctx, view, map.grid);
    if (layers.geofences) L.geofences(ctx, view, map.geofences, scene.geofenceT);
    if (layers.sites) L.sites(ctx, view, map.sites);
    if (layers.hubs) L.hubs(ctx, view, map.hubs);
    L.scaleBar(ctx, view);
  }
}

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

  /** Draw the copy onto `ctx` pixel for pixel, leaving `ctx` in CSS pixels (`dpr`). */
  copyTo(ctx, dpr) {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
}
