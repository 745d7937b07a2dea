/**
 * The live airspace (docs/map-api.md "Live"): static layers from GET /live/v1/map, then the Server-Sent
 * Events of GET /live/v1/stream read with fetch (EventSource cannot send the bearer header), reconnecting
 * with backoff. It keeps the intents, the vehicles reported by telemetry (keyed by intent id, with short
 * trails) or the simulation's latest frame, and gives them to the map as replay does.
 */

import { getJSON, openStream, showStatus } from "./api.js";
import * as C from "./colors.js";
import { interpolate, Sample } from "./frames.js";

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30000;
const TRAIL_SPAN_S = 20;
const TRAIL_POINTS = 10;
const COAST_MAX_S = 5; // a telemetry vehicle moves on its velocity at most this long after its report
const STATE_MODE = { Nonconforming: "nonconforming", Contingent: "contingent" };

/** Splits a text/event-stream into events: `event:` and `data:` lines, a blank line ends one. */
class SseParser {
  constructor() {
    this.rest = "";
    this.event = "";
    this.data = [];
  }

  /** Feed decoded text; returns the events it completed, as {event, data}. */
  push(text) {
    const lines = (this.rest + text).split(/\r\n|\r|\n/);
    this.rest = lines.pop();
    const events = [];
    for (const line of lines) {
      if (line === "") {
        if (this.data.length) events.push({ event: this.event || "message", data: this.data.join("\n") });
        this.event = "";
        this.data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") this.event = value;
        else if (field === "data") this.data.push(value);
      }
    }
    return events;
  }
}

export class LiveSource {
  constructor(onChange, onError) {
    this.onChange = onChange;
    this.onError = onError;
    this.map = null;
    this.source = null; // "service" or "simulation", from hello
    this.startMs = NaN;
    this.ended = false;
    this.reset();
  }

  reset() {
    this.intents = new Map(); // id -> intent payload
    this.telemetry = new Map(); // id -> {key, t_s, x_m.., state, trail: [[t, x, y]...] newest last}
    this.keys = new Map(); // intent id -> small integer (the vehicles' flight column), until the next hello
    this.history = []; // the simulation's recent frames (Sample), ascending
    this.frameWallMs = 0;
    this.rate = 1; // simulation seconds per wall second, from the last two frames
  }

  /** Static layers, then the stream in the background. */
  async open() {
    this.map = await getJSON("/live/v1/map");
    this.modeIndex = (name) => Math.max(0, this.map.modes.indexOf(name));
    this.connect();
    return this;
  }

  async connect() {
    let delayMs = RETRY_FIRST_MS;
    while (!this.ended) {
      try {
        const answer = await openStream("/live/v1/stream");
        delayMs = RETRY_FIRST_MS;
        const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const event of parser.push(value)) this.handle(event.event, JSON.parse(event.data));
        }
        if (!this.ended) showStatus("live stream closed by the server; reconnecting");
      } catch (err) {
        this.onError(err);
      }
      if (this.ended) break;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(2 * delayMs, RETRY_MAX_MS);
    }
  }

  handle(name, data) {
    if (name === "hello") {
      this.reset(); // a snapshot follows
      this.source = data.source;
      this.startMs = Date.parse(data.start);
    } else if (name === "intent") {
      this.intents.set(data.id, data);
    } else if (name === "intent_ended") {
      this.intents.delete(data.id);
      this.telemetry.delete(data.id);
    } else if (name === "telemetry") {
      this.addTelemetry(data);
    } else if (name === "frame") {
      this.addFrame(data);
    } else if (name === "end") {
      this.ended = true;
      showStatus("simulation finished", "notice");
    }
    this.onChange();
  }

  addTelemetry(data) {
    if (!this.keys.has(data.id)) this.keys.set(data.id, this.keys.size);
    const trail = this.telemetry.get(data.id)?.trail ?? [];
    trail.push([data.t_s, data.x_m, data.y_m]);
    while (trail.length > TRAIL_POINTS || (trail.length && trail[0][0] < data.t_s - TRAIL_SPAN_S)) trail.shift();
    this.telemetry.set(data.id, { ...data, key: this.keys.get(data.id), trail });
  }

  addFrame(data) {
    const sample = Sample.fromJSON(data);
    const now = performance.now();
    const last = this.history.at(-1);
    if (last && sample.t > last.t && now > this.frameWallMs) {
      this.rate = (sample.t - last.t) / ((now - this.frameWallMs) / 1000);
    }
    this.frameWallMs = now;
    this.history.push(sample);
    while (this.history.length > 1 && this.history[0].t < sample.t - TRAIL_SPAN_S) this.history.shift();
  }

  /**
   * Live time: the latest frame moved on at the observed pace; the wall clock for the service; NaN for a
   * simulation that has sent no frame (yet, or since this page joined after its end).
   */
  now() {
    const last = this.history.at(-1);
    if (last) {
      const prev = this.history.at(-2);
      const interval = prev ? last.t - prev.t : 1;
      return last.t + Math.min(((performance.now() - this.frameWallMs) / 1000) * this.rate, interval);
    }
    return this.source === "service" ? (Date.now() - this.startMs) / 1000 : NaN;
  }

  vehiclesAt(t, out) {
    const last = this.history.at(-1);
    if (last) return interpolate(last, null, Math.max(t, last.t), out);
    const rows = [...this.telemetry.values()].sort((a, b) => a.key - b.key);
    out.reserve(rows.length);
    out.n = rows.length;
    out.names = rows.map((r) => r.id);
    rows.forEach((r, i) => {
      const dt = Math.min(COAST_MAX_S, Math.max(0, t - r.t_s));
      out.flight[i] = r.key;
      out.x[i] = r.x_m + r.vx_mps * dt;
      out.y[i] = r.y_m + r.vy_mps * dt;
      out.z[i] = r.z_m + r.vz_mps * dt;
      out.vx[i] = r.vx_mps;
      out.vy[i] = r.vy_mps;
      out.vz[i] = r.vz_mps;
      out.mode[i] = this.modeIndex(STATE_MODE[r.state] ?? "nominal");
      out.sensed[i] = 0;
    });
    return out;
  }

  trailsAt(t, vehicles, trails) {
    if (this.history.length) return trails.fromSamples(vehicles, this.history.filter((_, k) => k % 2 === 0));
    trails.reserve(vehicles.n);
    for (let i = 0; i < vehicles.n; i++) {
      const points = this.telemetry.get(vehicles.names[i]).trail;
      const count = Math.min(points.length, trails.length);
      for (let k = 0; k < count; k++) {
        const [, x, y] = points[points.length - 1 - k];
        trails.x[i * trails.length + k] = x;
        trails.y[i * trails.length + k] = y;
      }
      trails.count[i] = count;
    }
    return trails;
  }

  /** Every volume of the live intents, coloured by state; dashed outside its time span. */
  volumesAt(t, selected) {
    const out = [];
    for (const intent of this.intents.values()) {
      const color = C.INTENT_STATE[intent.state] ?? C.INTENT_STATE.Accepted;
      const add = (v, offNominal) =>
        out.push({
          outline: v.outline_m,
          color: offNominal ? C.OFF_NOMINAL : color,
          active: (v.start_s ?? -Infinity) <= t && t <= (v.end_s ?? Infinity),
          offNominal,
          selected: intent.id === selected,
          id: intent.id,
        });
      intent.volumes.forEach((v) => add(v, false));
      intent.off_nominal_volumes.forEach((v) => add(v, true));
    }
    return out;
  }

  /** What the panel shows of vehicle `id` (an intent id, or a simulation flight number). */
  describe(id) {
    const row = this.telemetry.get(id);
    if (row) {
      const { z_m: z, vx_mps: vx, vy_mps: vy, vz_mps: vz, state, t_s: tS } = row;
      return { id, intent: this.intents.get(id), z, vx, vy, vz, state, tS };
    }
    const last = this.history.at(-1);
    const i = last ? last.flight.indexOf(id) : -1;
    if (i < 0) return null;
    const state = this.map.modes[last.mode[i]] ?? "unknown";
    return { id, z: last.z[i], vx: last.vx[i], vy: last.vy[i], vz: last.vz[i], state, tS: last.t };
  }
}
