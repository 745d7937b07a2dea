/**
 * The page's controls, as DOM wiring only: run choice, time slider, play/pause, speed, flight search,
 * layer checkboxes and their options, the incident list and the legend. What they do is main.js's.
 */

import * as C from "./colors.js";
import { markerPath } from "./markers.js";

const LAYERS = ["vehicles", "trails", "links", "intents", "geofences", "hubs", "cells", "sites", "coverage"];

const $ = (id) => document.getElementById(id);

/** Checked and enabled state of every layer, by name. */
export function layerStates() {
  return Object.fromEntries(LAYERS.map((name) => [name, $(`layer-${name}`).checked && !$(`layer-${name}`).disabled]));
}

/** `handler(name)` after a layer checkbox changes. */
export function onLayerChange(handler) {
  for (const name of LAYERS) $(`layer-${name}`).addEventListener("change", () => handler(name));
}

/** Grey a layer out, with the reason as its tooltip. */
export function disableLayer(name, reason) {
  const box = $(`layer-${name}`);
  box.checked = false;
  box.disabled = true;
  box.parentElement.title = reason;
}

/** The run selector: every run, then the live airspace; `current` is "live" or a run name. */
export function fillRuns(runs, current) {
  const select = $("run-select");
  const options = [];
  if (!current) {
    options.push(new Option("Choose a run…", "", true, true));
    options[0].disabled = true;
  }
  for (const r of runs) {
    const text = `${r.run} · ${r.comms_profile ?? "?"} · ${r.flights} flights`;
    options.push(new Option(text, `run=${r.run}`, false, r.run === current));
  }
  options.push(new Option("Live airspace", "live", false, current === "live"));
  select.replaceChildren(...options);
}

/** A note in place of the run list (the token may not read runs). */
export function noteRuns(text, current) {
  const option = new Option(text, "");
  option.disabled = true;
  const live = new Option("Live airspace", "live", false, current === "live");
  $("run-select").replaceChildren(option, live);
  $("run-select").value = current === "live" ? "live" : "";
}

/** The time slider, play/pause button, speed choice and time label. */
export class TimeControls {
  constructor({ onSeek, onPlay, onSpeed }) {
    this.slider = $("time-slider");
    this.play = $("play");
    this.label = $("time-label");
    this.speed = $("speed");
    this.dragging = false; // while the user holds the slider, playback does not move it
    this.slider.addEventListener("pointerdown", () => (this.dragging = true));
    this.slider.addEventListener("pointerup", () => (this.dragging = false));
    this.slider.addEventListener("input", () => onSeek(Number(this.slider.value)));
    this.slider.addEventListener("change", () => onSeek(Number(this.slider.value)));
    this.play.addEventListener("click", () => onPlay());
    this.speed.addEventListener("change", () => onSpeed(Number(this.speed.value)));
  }

  setRange(min, max) {
    this.slider.min = String(Math.floor(min));
    this.slider.max = String(Math.ceil(max));
    this.slider.disabled = false;
    this.play.disabled = false;
  }

  /** Sim seconds and the UTC clock time (`startMs` + t). */
  setTime(t, startMs, prefix = "") {
    if (!Number.isFinite(t)) {
      this.label.textContent = `${prefix}no time yet`;
      return;
    }
    if (!this.dragging) this.slider.value = String(Math.round(t));
    const clock = Number.isFinite(startMs) ? new Date(startMs + t * 1000) : null;
    const utc = clock ? ` · ${clock.toISOString().slice(11, 19)} UTC` : "";
    this.label.textContent = `${prefix}t = ${t.toFixed(0)} s${utc}`;
    if (clock) this.label.title = clock.toISOString();
  }

  setPlaying(playing) {
    this.play.textContent = playing ? "Pause" : "Play";
  }

  /** Live mode: no slider, play or speed; a LIVE badge instead. */
  showLive() {
    $("time-controls").hidden = true;
    $("live-badge").hidden = false;
    $("incidents").hidden = true;
  }
}

/** Screen pixels hidden by the panels over a map `width` px wide, so fitting uses the free part of it. */
export function insets(width) {
  const side = $("sidebar").getBoundingClientRect();
  const top = $("topbar").getBoundingClientRect();
  const vehiclePanel = $("vehicle-panel");
  const right = vehiclePanel.hidden ? 16 : width - vehiclePanel.getBoundingClientRect().left + 16;
  return { left: side.right + 16, top: top.bottom + 16, right, bottom: 40 };
}

/** The credit line of the background tiles: their host (an attribution is not known generically). */
export function showTileCredit(host) {
  const credit = $("tile-credit");
  credit.textContent = `map tiles: ${host}`;
  credit.hidden = false;
}

/** The cell-layer choice: all layers (max ratio) or one by name. */
export function fillCellLayers(layers, onChange) {
  const select = $("cell-layer");
  select.replaceChildren(new Option("all (max)", "-1"), ...layers.map((l, k) => new Option(l.name, String(k))));
  select.addEventListener("change", () => onChange(Number(select.value)));
}

/** `handler()` after the coverage altitude or link changes. */
export function onCoverageOptions(handler) {
  $("coverage-altitude").addEventListener("change", () => handler());
  $("coverage-link").addEventListener("change", () => handler());
}

/** The coverage layer's altitude (m, 120 when not a number) and link (`dl` or `ul`). */
export function coverageOptions() {
  const altitude = Number($("coverage-altitude").value);
  return { altitudeM: Number.isFinite(altitude) ? altitude : 120, link: $("coverage-link").value };
}

/** `handler(text)` when Enter is pressed in the flight search with something typed. */
export function onSearch(handler) {
  $("search").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.value.trim()) handler(e.target.value.trim());
  });
}

/** One button per incident: id, severity, parties, start time, minimum separation. */
export function listIncidents(incidents, onPick) {
  $("incident-count").textContent = `(${incidents.length})`;
  const list = $("incident-list");
  if (!incidents.length) {
    list.textContent = "none in this run";
    list.classList.add("muted");
    return;
  }
  list.replaceChildren(
    ...incidents.map((inc) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "incident";
      button.dataset.incident = inc.id;
      const sev = document.createElement("span");
      sev.className = `sev ${inc.severity.toLowerCase()}`;
      sev.textContent = inc.severity;
      const who = document.createElement("span");
      who.textContent = `${inc.id} · ${inc.a} × ${inc.b}`;
      const what = document.createElement("span");
      what.className = "what";
      const separation = `${inc.min_horizontal_m.toFixed(1)} m / ${inc.min_vertical_m.toFixed(1)} m`;
      what.textContent = `t ${inc.start_s.toFixed(0)} s · ${separation}`;
      button.append(sev, who, what);
      button.title = `closest at t = ${inc.closest_s.toFixed(1)} s; ${inc.vehicle.join(" × ")}`;
      button.addEventListener("click", () => onPick(inc));
      return button;
    }),
  );
}

/** The legend, drawn with the map's own colours and marker shapes. */
export function buildLegend() {
  const vehicles = C.VEHICLE_CLASSES.map((c, k) =>
    legendItem(c.label, (ctx) => {
      const path = new Path2D();
      markerPath(path, 8, 6, 1, 0, 5.5);
      ctx.fillStyle = c.color;
      ctx.fill(path);
      if (k === C.CLASS_INDEX.sensed) {
        ctx.strokeStyle = c.color;
        ctx.beginPath();
        ctx.arc(8, 6, 5.5, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }),
  );
  vehicles.push(
    legendItem("eVTOL (larger)", (ctx) => {
      const path = new Path2D();
      markerPath(path, 8, 6, 1, 0, 7.5);
      ctx.fillStyle = C.VEHICLE_CLASSES[C.CLASS_INDEX.nominal].color;
      ctx.fill(path);
    }),
  );
  $("legend-vehicles").replaceChildren(...vehicles);
  const line = (color, width, dash) => (ctx) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(1, 6);
    ctx.lineTo(15, 6);
    ctx.stroke();
  };
  const box = (fill, edge) => (ctx) => {
    ctx.fillStyle = fill;
    ctx.fillRect(1.5, 1.5, 13, 9);
    ctx.strokeStyle = edge;
    ctx.strokeRect(1.5, 1.5, 13, 9);
  };
  const other = [
    legendItem("conflict", line(C.LINK.conflict, 1.5, [3, 2])),
    legendItem("LoS", line(C.LINK.los, 2, [])),
    legendItem("NMAC", line(C.LINK.nmac, 4, [])),
    legendItem("intent", box(C.INTENT_FILL, C.INTENT_EDGE)),
    ...Object.entries(C.RESTRICTION).map(([key, color]) =>
      legendItem(C.RESTRICTION_LABEL[key], box(`${color}33`, color)),
    ),
    ...C.OCCUPANCY_STEPS.map((st) => legendItem(`cells ${st.label}`, box(st.color, "rgba(0,0,0,0.15)"))),
  ];
  $("legend-other").replaceChildren(...other);
}

function legendItem(text, paint) {
  const item = document.createElement("li");
  const swatch = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  swatch.width = 16 * dpr;
  swatch.height = 12 * dpr;
  const ctx = swatch.getContext("2d");
  ctx.scale(dpr, dpr);
  paint(ctx);
  item.append(swatch, document.createTextNode(text));
  return item;
}
