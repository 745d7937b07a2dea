/**
 * The web map's wiring: start-up and routing (`#run=NAME` replay or `#live`, a token from the fragment or
 * the token form), the page state `window.utm6g` (read by the tests), the draw loop, selection and what
 * each control does. Data comes from replay.js or live.js, replay time from playback.js, drawing from
 * draw.js; see docs/map-api.md.
 */

import { formatFragment, getJSON, hasToken, setToken, showError, showStatus, takeFragment } from "./api.js";
import { CellOccupancy } from "./cells.js";
import { CLASS_INDEX } from "./colors.js";
import * as controls from "./controls.js";
import { Coverage, drawCoverageLegend } from "./coverage.js";
import { Renderer } from "./draw.js";
import { Trails, Vehicles } from "./frames.js";
import { LiveSource } from "./live.js";
import { DetailFeed, liveValues, replayValues, VehiclePanel } from "./panel.js";
import { Playback } from "./playback.js";
import { ReplaySource } from "./replay.js";
import { TileLayer } from "./tiles.js";
import { attachPointer, View } from "./view.js";

const PICK_PX = 10; // a click selects the nearest marker this close
const TRAIL_POINTS = 10;
const MAX_CENTRE_HALF_SPAN_M = 3000; // centring on a vehicle zooms in to at least this view
const INCIDENT_HALF_SPAN_M = 1000; // an incident is framed at least this far around its pair
const LIVE_PANEL_MS = 500;
const HASH_DELAY_MS = 400;

const canvas = document.getElementById("map");
const view = new View();
const renderer = new Renderer(canvas, view);
const vehicles = new Vehicles();
const trails = new Trails(TRAIL_POINTS);

let source = null; // ReplaySource or LiveSource
let occupancy = null;
let classOfMode = new Uint8Array(0);
let largeById = new Uint8Array(0);
let cellLayer = -1;
let coverage = null;
let coverageImage = null;
let layers = controls.layerStates();
let time = null;
let panel = null;
let details = null;
let playback = null; // replay only
let lastLivePanelMs = 0;
let drawQueued = false;
let hashTimer = 0;

/** The page's state, kept current: what the tests read and call, and handy when debugging. */
const page = {
  ready: false,
  mode: null,
  run: null,
  t: 0,
  playing: false,
  speed: 10,
  drawn: 0,
  selected: null,
  incidents: [],
  drawnIntents: [], // intent ids drawn (replay corridors or live volumes)
  lastFrameMs: 0, // JavaScript time of the last render (rasterising may follow)
  draws: 0, // renders so far (frame rate = its growth per second)
  pending: 0, // seeks waiting for their frames
  get framesRequested() {
    return source?.frames?.requested ?? 0;
  },
  get drawnFlights() {
    return layers.vehicles ? vehicles.ids() : [];
  },
  get tilesDrawn() {
    return renderer.tiles?.drawn ?? 0; // background tiles in the last repaint of the base layers
  },
  seek: async (t) => (page.mode === "replay" ? playback.seek(t) : false),
  select: (id) => select(id),
  project: (x, y) => view.project(x, y),
};
window.utm6g = page;

/** Draw the current time once; false when its frames are not here yet (the last vehicles stay shown). */
function render() {
  if (!source) return false;
  const started = performance.now();
  const live = page.mode === "live";
  if (live) page.t = source.now();
  const t = page.t;
  const loaded = source.vehiclesAt(t, vehicles) !== null;
  const scene = {
    map: source.map,
    layers,
    geofenceT: live ? liveZoneTime(t) : t,
    coverage: coverageImage && { image: coverageImage, bounds: coverage.bounds() },
    cellRatio: layers.cells ? occupancy.update(vehicles, cellLayer) : null,
    corridors: !live && layers.intents ? source.corridorsAt(t, page.selected) : [],
    volumes: live && layers.intents ? source.volumesAt(t, page.selected) : [],
    links: !live && layers.links ? source.linksAt(t, requestDraw) : [],
    trails: layers.trails ? source.trailsAt(t, vehicles, trails) : null,
    vehicles,
    classOfMode,
    largeById,
    selected: page.selected === null ? -1 : vehicles.indexOf(page.selected),
  };
  page.drawn = renderer.draw(scene);
  page.drawnIntents = [...new Set((live ? scene.volumes : scene.corridors).map((c) => c.id))];
  page.lastFrameMs = performance.now() - started;
  page.draws += 1;
  if (live) {
    time.setTime(t, source.startMs, "live · ");
    if (page.selected !== null && started - lastLivePanelMs > LIVE_PANEL_MS) {
      lastLivePanelMs = started;
      const seen = source.describe(page.selected);
      panel.show(seen ? liveValues(seen) : { flight: String(page.selected), state: "not seen" });
    }
  }
  return loaded;
}

/** A zone's activity live: the map's intervals end when it was fetched, so later times use its end. */
const liveZoneTime = (t) => (Number.isFinite(t) ? Math.min(t, source.map.t_max_s) : source.map.t_max_s);

function requestDraw() {
  if (!drawQueued) {
    drawQueued = true;
    requestAnimationFrame(tick);
  }
}

function tick(nowMs) {
  drawQueued = false;
  if (page.playing) playback.advance(nowMs);
  render();
  if (page.playing || page.mode === "live") requestDraw();
}

/** Select a vehicle (flight number, or a live intent id); null clears. */
function select(id) {
  page.selected = id ?? null;
  if (page.selected === null) {
    panel.hide();
    details?.want(null);
  } else {
    panel.show({ flight: String(page.selected) });
    if (page.mode === "replay") details.want(page.selected, page.t);
    lastLivePanelMs = 0;
  }
  scheduleHash();
  requestDraw();
}

/** The nearest marker within PICK_PX of a click. */
function pick(sx, sy) {
  if (!layers.vehicles) return;
  const [ox, oy] = view.origin();
  const s = view.scale;
  let best = -1;
  let bestD2 = PICK_PX * PICK_PX;
  for (let i = 0; i < vehicles.n; i++) {
    const dx = ox + vehicles.x[i] * s - sx;
    const dy = oy - vehicles.y[i] * s - sy;
    const d2 = dx * dx + dy * dy;
    if (d2 <= bestD2) {
      best = i;
      bestD2 = d2;
    }
  }
  if (best >= 0) select(vehicles.names ? vehicles.names[best] : vehicles.flight[best]);
}

/** Select the flight typed in #search and centre on it when airborne. */
function search(text) {
  let id = Number(text);
  if (page.mode === "live" && vehicles.names) id = vehicles.names.find((name) => name.startsWith(text)) ?? text;
  else if (!Number.isInteger(id)) return showStatus(`"${text}" is not a flight number`, "error");
  if (page.mode === "replay" && !source.byId.has(id)) return showStatus(`run ${page.run} has no flight ${id}`, "error");
  select(id);
  const i = vehicles.indexOf(id);
  if (i < 0) return showStatus(`flight ${id} is not airborne at t = ${page.t.toFixed(0)} s`);
  centreOn([[vehicles.x[i], vehicles.y[i]]]);
}

/** Fit the points in the free map: `minHalfSpanM` around them at least (default: the zoom kept, within limits). */
function centreOn(points, minHalfSpanM) {
  const insets = controls.insets(view.width);
  view.centreOn(points, insets, minHalfSpanM ?? Math.min(view.shownHalfSpanM(insets), MAX_CENTRE_HALF_SPAN_M));
  requestDraw();
}

/** Keep the fragment pointing at what is shown (no token in it), a moment after it settles. */
function scheduleHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => {
    const params = new URLSearchParams();
    if (page.mode === "live") params.set("live", "");
    else if (page.mode === "replay") {
      params.set("run", page.run);
      if (!page.playing) params.set("t", String(Math.round(page.t)));
    } else return;
    if (page.selected !== null) params.set("flight", String(page.selected));
    history.replaceState(null, "", `${location.pathname}${location.search}${formatFragment(params)}`);
  }, HASH_DELAY_MS);
}

/** (Re)build the coverage image for the chosen altitude and link, fetching a new altitude's grid. */
async function refreshCoverage() {
  const legend = document.getElementById("coverage-legend");
  coverageImage = null;
  legend.hidden = true;
  if (layers.coverage && coverage) {
    const { altitudeM, link } = controls.coverageOptions();
    try {
      if (coverage.data?.altitude_m !== altitudeM) await coverage.load(altitudeM);
      if (layers.coverage) {
        coverageImage = coverage.image(link);
        legend.hidden = false;
        drawCoverageLegend(legend, coverageImage, link);
      }
    } catch (err) {
      report(err);
    }
  }
  requestDraw();
}

/** Show an error in #status; a refused token brings the token form back. */
function report(err) {
  showError(err);
  if (err?.status === 401) askToken();
}

function askToken() {
  const form = document.getElementById("token-form");
  form.hidden = false;
  document.getElementById("token-input").focus();
}

/** The static layers' page-side helpers: cell occupancy, mode colours, layer availability. */
function useMap(map) {
  occupancy = new CellOccupancy(map.grid);
  const classOf = (mode) =>
    mode === "noncooperative" ? CLASS_INDEX.unseen : (CLASS_INDEX[mode] ?? CLASS_INDEX.nominal);
  classOfMode = Uint8Array.from(map.modes, classOf);
  controls.fillCellLayers(map.grid.layers, (k) => {
    cellLayer = k;
    requestDraw();
  });
  if (!map.sites.length) controls.disableLayer("sites", "no gNB sites: this airspace has no modelled radio network");
  layers = controls.layerStates();
  if (map.tile_url) {
    renderer.tiles = new TileLayer(map.tile_url, map.origin, requestDraw);
    controls.showTileCredit(renderer.tiles.host);
  }
  view.fit(map.bounds_m, controls.insets(view.width));
}

async function startReplay(run, params) {
  try {
    source = await ReplaySource.open(run, report);
  } catch (err) {
    report(err);
    return;
  }
  page.mode = "replay";
  page.run = run;
  document.title = `${run} · utm6g map`;
  page.incidents = source.incidents;
  largeById = source.largeById;
  if (source.ideal) controls.disableLayer("coverage", "this run has no radio network (comms profile ideal)");
  else coverage = new Coverage(`${source.base}/coverage`);
  useMap(source.map);
  time.setRange(source.tMin, source.tMax);
  controls.listIncidents(source.incidents, (inc) =>
    playback.goToIncident(inc, select, (points) => centreOn(points, INCIDENT_HALF_SPAN_M)),
  );
  details = new DetailFeed(
    (flight, t) => source.detail(flight, t),
    (detail) => panel.show(replayValues(detail, source.ideal)),
    report,
  );
  const onTime = (t) => {
    if (page.selected !== null) details.want(page.selected, t);
    if (!page.playing) scheduleHash();
  };
  playback = new Playback({ source, page, time, render, requestDraw, onTime, report });
  const t = Number(params.get("t"));
  page.ready = await playback.seek(params.get("t") && Number.isFinite(t) ? t : source.tMin);
  if (params.get("flight")) select(Number(params.get("flight")));
}

async function startLive(params) {
  const live = new LiveSource(requestDraw, report);
  try {
    await live.open();
  } catch (err) {
    report(err);
    return;
  }
  source = live;
  page.mode = "live";
  document.title = "live · utm6g map";
  controls.disableLayer("coverage", "the live airspace has no coverage map");
  time.showLive();
  useMap(live.map);
  render();
  page.ready = true;
  requestDraw();
  if (params.get("flight")) select(params.get("flight"));
}

/** Runs for #run-select (true when listed); a token without the replay scope gets a note instead. */
async function listRuns(current) {
  document.getElementById("run-select").onchange = (e) => (location.hash = e.target.value);
  try {
    controls.fillRuns((await getJSON("/replay/v1/runs")).runs, current);
    return true;
  } catch (err) {
    if (err?.status === 403 && current === "live") controls.noteRuns("runs: not readable with this token", current);
    else {
      report(err);
      controls.noteRuns("runs could not be listed", current);
    }
    return false;
  }
}

function wire() {
  controls.buildLegend();
  renderer.resize();
  time = new controls.TimeControls({
    onSeek: (t) => {
      if (page.playing) playback.stop();
      playback.seek(t);
    },
    onPlay: () => playback?.toggle(),
    onSpeed: (speed) => (page.speed = speed),
  });
  page.speed = Number(document.getElementById("speed").value);
  panel = new VehiclePanel(() => select(null));
  attachPointer(canvas, view, { onChange: requestDraw, onClick: pick });
  controls.onLayerChange((name) => {
    layers = controls.layerStates();
    if (name === "coverage") refreshCoverage();
    requestDraw();
  });
  controls.onCoverageOptions(refreshCoverage);
  controls.onSearch(search);
  window.addEventListener("resize", () => {
    renderer.resize();
    requestDraw();
  });
  window.addEventListener("keydown", (e) => {
    if (e.key === " " && page.mode === "replay" && !e.target.closest("input, select, button, textarea")) {
      e.preventDefault();
      playback.toggle();
    }
  });
  window.addEventListener("hashchange", () => location.reload());
  window.addEventListener("unhandledrejection", (e) => report(e.reason));
  document.getElementById("status").addEventListener("click", (e) => (e.currentTarget.hidden = true));
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(document.getElementById("token-input").value);
    location.reload();
  });
}

async function start() {
  wire();
  const params = takeFragment();
  renderer.draw({ map: null, layers });
  if (!hasToken()) return askToken();
  const current = params.has("live") ? "live" : params.get("run");
  const runs = listRuns(current);
  if (params.has("run")) await startReplay(params.get("run"), params);
  else if (params.has("live")) await startLive(params);
  else if (await runs) showStatus("choose a recorded run or the live airspace above");
}

start();
