/**
 * The vehicle panel (#vehicle-panel): one selected vehicle's plan, state, last report, link and
 * conformance. For a replay the values come from GET .../flights/{flight}?t= (at most two requests a
 * second, the newest wish winning); live, from what the stream last said about it.
 */

const FIELDS = [
  "flight", "intent", "vehicle", "operator", "priority", "cooperative", "route", "state",
  "altitude", "speed", "vspeed", "heading", "latency", "reports", "link", "conformance",
];
const MIN_INTERVAL_MS = 500;
const DASH = "—";

export class VehiclePanel {
  constructor(onClose) {
    this.root = document.getElementById("vehicle-panel");
    this.cells = Object.fromEntries(FIELDS.map((f) => [f, document.getElementById(`panel-${f}`)]));
    document.getElementById("panel-close").addEventListener("click", onClose);
  }

  /** Show `values` (field -> text); fields not given read "—". */
  show(values) {
    for (const f of FIELDS) this.cells[f].textContent = values[f] ?? DASH;
    this.root.hidden = false;
  }

  hide() {
    this.root.hidden = true;
  }
}

/** Panel text of a replay flight's detail at t; `ideal` when the run has no radio network. */
export function replayValues(d, ideal) {
  const s = d.state;
  const report = d.last_report;
  let latency = "no report";
  if (report?.lost) latency = `lost (sent t ${report.t_sent_s.toFixed(1)} s)`;
  else if (report) latency = `${(report.latency_s * 1000).toFixed(1)} ms (sent t ${report.t_sent_s.toFixed(1)} s)`;
  let link = DASH;
  if (ideal) link = "ideal link";
  else if (d.link) {
    const l = d.link;
    const sinr = `DL ${fixed(l.dl_sinr_db, 1)} dB / UL ${fixed(l.ul_sinr_db, 1)} dB`;
    link = `site ${l.site}, ${fixed(l.distance_m, 0)} m · ${sinr}`;
  }
  return {
    flight: String(d.flight),
    intent: d.intent_id || "none filed",
    vehicle: `${d.vehicle} / ${d.kind}`,
    operator: d.operator,
    priority: String(d.priority),
    cooperative: d.cooperative ? "yes" : "no",
    route: `${d.origin || "?"} → ${d.destination || `${d.origin} (round trip)`}`,
    state: s ? s.mode : "not airborne",
    altitude: s ? `${fixed(s.z_m, 1)} m` : undefined,
    speed: s ? `${fixed(s.speed_mps, 1)} m/s` : undefined,
    vspeed: s ? `${fixed(s.vertical_speed_mps, 1)} m/s` : undefined,
    heading: s ? `${fixed(s.heading_deg, 0)}°` : undefined,
    latency,
    reports: `${d.reports.delivered} / ${d.reports.sent} delivered`,
    link,
    conformance: d.conformance ?? "no transition",
  };
}

/** Panel text of a live vehicle: its last telemetry or frame row, and its intent when known. */
export function liveValues({ id, intent, z, vx, vy, vz, state, tS }) {
  return {
    flight: String(id),
    intent: intent?.id,
    operator: intent?.manager,
    priority: intent ? String(intent.priority) : undefined,
    state,
    altitude: `${fixed(z, 1)} m`,
    speed: `${fixed(Math.hypot(vx, vy), 1)} m/s`,
    vspeed: `${fixed(vz, 1)} m/s`,
    heading: `${fixed(((Math.atan2(vx, vy) * 180) / Math.PI + 360) % 360, 0)}°`,
    latency: `t ${fixed(tS, 1)} s`,
  };
}

/**
 * Fetches the detail of the selected flight at the current time: at most one request in flight and one
 * every MIN_INTERVAL_MS; a wish that changed meanwhile is fetched next, one that did not is not repeated.
 */
export class DetailFeed {
  constructor(fetchDetail, onDetail, onError) {
    this.fetchDetail = fetchDetail;
    this.onDetail = onDetail;
    this.onError = onError;
    this.wanted = null;
    this.fetched = null;
    this.busy = false;
    this.lastStart = -Infinity;
    this.timer = 0;
  }

  want(flight, t) {
    this.wanted = flight === null ? null : { flight, t };
    this.pump();
  }

  pump() {
    const w = this.wanted;
    if (this.busy || !w || (this.fetched && this.fetched.flight === w.flight && this.fetched.t === w.t)) return;
    const wait = this.lastStart + MIN_INTERVAL_MS - performance.now();
    if (wait > 0) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    this.busy = true;
    this.lastStart = performance.now();
    this.fetched = w;
    this.fetchDetail(w.flight, w.t)
      .then((detail) => {
        if (this.wanted?.flight === w.flight) this.onDetail(detail);
      })
      .catch(this.onError)
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }
}

const fixed = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : DASH);
