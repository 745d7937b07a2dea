/**
 * A recorded run as the map reads it (docs/map-api.md "Recorded runs"): its detail, static layers,
 * flights, incidents, frames by 60 s window, conflict/LoS links by 600 s block, and the intents active at
 * a time. Everything is fetched with the bearer token; failures go to `onError`.
 */

import { getBytes, getJSON } from "./api.js";
import { FrameStore } from "./frames.js";

const WINDOW_S = 60;
const LINK_BLOCK_S = 600; // the longest window /links accepts
const TRAIL_SPAN_S = 20;
const TRAIL_POINTS = 10;

export class ReplaySource {
  /** Open run `run`: detail, map, flights and incidents, fetched together. */
  static async open(run, onError) {
    const base = `/replay/v1/runs/${encodeURIComponent(run)}`;
    const [detail, map, flights, incidents] = await Promise.all(
      ["", "/map", "/flights", "/incidents"].map((p) => getJSON(`${base}${p}`)),
    );
    const data = { detail, map, flights: flights.flights, incidents: incidents.incidents };
    return new ReplaySource(run, base, data, onError);
  }

  constructor(run, base, { detail, map, flights, incidents }, onError) {
    this.run = run;
    this.base = base;
    this.map = map;
    this.flights = flights;
    this.incidents = incidents;
    this.onError = onError;
    this.tMin = detail.t_min_s ?? map.t_min_s ?? 0;
    this.tMax = detail.t_max_s ?? map.t_max_s ?? this.tMin;
    this.startMs = Date.parse(detail.start ?? map.start);
    this.ideal = map.comms_profile === "ideal" || !map.sites.length;
    this.byId = new Map(flights.map((f) => [f.flight, f]));
    const maxId = flights.reduce((m, f) => Math.max(m, f.flight), -1);
    this.largeById = new Uint8Array(maxId + 1); // eVTOLs get the larger marker
    for (const f of flights) if (f.vehicle === "evtol") this.largeById[f.flight] = 1;
    this.intentFlights = flights.filter((f) => f.intent_id && f.path_m && f.takeoff_s !== null);
    this.frames = new FrameStore(
      (t0, t1, stride) => getBytes(`${base}/frames?t0=${t0}&t1=${t1}&format=bin&stride=${stride}`),
      { windowS: WINDOW_S },
    );
    this.linkBlocks = new Map(); // block index -> links, or null while loading
  }

  vehiclesAt(t, out) {
    return this.frames.vehiclesAt(t, out);
  }

  /** Trails of `vehicles`: their positions over the last TRAIL_SPAN_S seconds of held samples. */
  trailsAt(t, vehicles, trails) {
    return trails.fromSamples(vehicles, this.frames.samplesBefore(t, TRAIL_SPAN_S, TRAIL_POINTS));
  }

  /** The intents active at `t` (take-off <= t <= landing) as buffered planned paths. */
  corridorsAt(t, selected) {
    const out = [];
    for (const f of this.intentFlights) {
      if (f.takeoff_s <= t && t <= (f.landing_s ?? Infinity)) {
        const bufferM = f.lateral_buffer_m ?? 0;
        out.push({ points: f.path_m, bufferM, selected: f.flight === selected, id: f.intent_id });
      }
    }
    return out;
  }

  /** Episodes open at `t`; a block not here yet is fetched and `onLoaded` called when it is. */
  linksAt(t, onLoaded) {
    const block = Math.floor(t / LINK_BLOCK_S);
    if (!this.linkBlocks.has(block)) {
      this.linkBlocks.set(block, null);
      const t0 = block * LINK_BLOCK_S;
      getJSON(`${this.base}/links?t0=${t0}&t1=${t0 + LINK_BLOCK_S}`)
        .then((answer) => {
          this.linkBlocks.set(block, answer.links);
          onLoaded();
        })
        .catch((err) => {
          this.linkBlocks.set(block, []);
          this.onError(err);
        });
    }
    return (this.linkBlocks.get(block) ?? []).filter((l) => l.start_s <= t && t <= l.end_s);
  }

  /** One flight at `t`: plan, state, last report, link, conformance. */
  detail(flight, t) {
    return getJSON(`${this.base}/flights/${encodeURIComponent(flight)}?t=${t}`);
  }
}
