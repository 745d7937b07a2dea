/**
 * Vehicle states for drawing: the binary frames of docs/map-api.md ("frames with format=bin") wrapped in
 * typed arrays without copying, a small least-recently-used cache of time windows with prefetch, and the
 * vehicle set at any instant (linear interpolation between the two samples around it; velocity
 * extrapolation for a vehicle missing from the later one). Rows of a sample are ascending by flight, so
 * matching a vehicle across samples is a merge walk or a binary search, never a hash map per frame.
 */

const MAGIC = "U6GF";
const TYPED = {
  float64: Float64Array,
  float32: Float32Array,
  uint32: Uint32Array,
  int32: Int32Array,
  uint8: Uint8Array,
};
const COLUMNS = ["x", "y", "z", "vx", "vy", "vz"];
const AXES = [
  ["x", "vx"],
  ["y", "vy"],
  ["z", "vz"],
];
const WIRE = { x: "x_m", y: "y_m", z: "z_m", vx: "vx_mps", vy: "vy_mps", vz: "vz_mps" };
const EPS_S = 1e-6;
const NO_ROWS = new Int32Array(0);

/**
 * One sample time: its rows as column views, `flight` ascending. Views into a window's columns (replay) or
 * typed arrays of one live `frame` event.
 */
export class Sample {
  constructor(t, columns) {
    this.t = t;
    this.flight = columns.flight;
    for (const name of COLUMNS) this[name] = columns[name];
    this.mode = columns.mode;
    this.sensed = columns.sensed;
  }

  /**
   * A live simulation's `frame` event (columnar JSON, rows ascending by flight as the server sends them; a
   * frame that is not is sorted here, as a guard). Nothing is marked sensed.
   */
  static fromJSON(data) {
    const n = data.flight.length;
    const flights = data.flight;
    const sorted = flights.every((id, k) => k === 0 || flights[k - 1] <= id);
    const order = sorted ? null : Array.from({ length: n }, (_, k) => k).sort((a, b) => flights[a] - flights[b]);
    const pick = (Type, values) => (order ? Type.from(order, (k) => values[k]) : Type.from(values));
    const columns = { flight: pick(Int32Array, flights), mode: pick(Uint8Array, data.mode) };
    columns.sensed = new Uint8Array(n);
    for (const name of COLUMNS) columns[name] = pick(Float32Array, data[WIRE[name]]);
    return new Sample(data.t_s, columns);
  }
}

/** The parsed answer of one `frames?format=bin` request: the samples of a time window. */
class FrameWindow {
  constructor(header, columns, stride) {
    this.t0 = header.t0_s;
    this.t1 = header.t1_s;
    this.stride = stride;
    this.times = columns.time_s;
    this.sliceStart = columns.slice_start;
    this.columns = columns;
    this.samples = new Array(this.times.length);
    let step = Infinity; // the sampling interval: a larger gap means nothing was airborne in between
    for (let s = 1; s < this.times.length; s++) step = Math.min(step, this.times[s] - this.times[s - 1]);
    this.step = Number.isFinite(step) ? step : stride;
  }

  /** Sample `s` (views, made once). */
  sample(s) {
    if (!this.samples[s]) {
      const a = this.sliceStart[s];
      const b = this.sliceStart[s + 1];
      const views = { flight: this.columns.flight.subarray(a, b), mode: this.columns.mode.subarray(a, b) };
      views.sensed = this.columns.sensed.subarray(a, b);
      for (const name of COLUMNS) views[name] = this.columns[WIRE[name]].subarray(a, b);
      this.samples[s] = new Sample(this.times[s], views);
    }
    return this.samples[s];
  }

  /** Index of the last sample at or before `t`, or -1. */
  lastAtOrBefore(t) {
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid] <= t + EPS_S) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

/** Parse a `U6GF` payload: magic, header length, JSON header, 8-byte aligned little-endian columns. */
function parseFrames(buffer, stride) {
  const bytes = new Uint8Array(buffer);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) {
    throw new Error("frames: the answer is not a U6GF payload");
  }
  const headerLength = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const body = Math.ceil((8 + headerLength) / 8) * 8;
  const columns = {};
  for (const c of header.columns) {
    const Type = TYPED[c.dtype];
    if (!Type) throw new Error(`frames: column ${c.name} has an unknown dtype ${c.dtype}`);
    columns[c.name] = new Type(buffer, body + c.offset, c.length); // the page assumes a little-endian CPU
  }
  return new FrameWindow(header, columns, stride);
}

/** The vehicles drawn at one instant: reusable typed columns (grown, never shrunk), flight ascending. */
export class Vehicles {
  constructor() {
    this.n = 0;
    this.names = null; // live telemetry: the intent id of each row (flight holds small integer keys)
    this.capacity = 0;
    this.reserve(1024);
  }

  reserve(n) {
    if (n <= this.capacity) return;
    this.capacity = Math.max(n, this.capacity * 2);
    this.flight = new Int32Array(this.capacity);
    for (const name of COLUMNS) this[name] = new Float32Array(this.capacity);
    this.mode = new Uint8Array(this.capacity);
    this.sensed = new Uint8Array(this.capacity);
    this.next = new Int32Array(this.capacity); // interpolate's scratch: each row's row in the next sample, or -1
  }

  /** Row of `flight`, or -1 (binary search; rows are ascending). */
  indexOf(flight) {
    if (this.names) return this.names.indexOf(flight);
    return bisect(this.flight, 0, this.n, flight);
  }

  /** The ids of the rows, as the page reports them (flight numbers, or live intent ids). */
  ids() {
    return this.names ? this.names.slice(0, this.n) : Array.from(this.flight.subarray(0, this.n));
  }
}

/** Row of `id` in the ascending `flights[lo:hi]`, or -1. */
function bisect(flights, lo, hi, id) {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = flights[mid];
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/**
 * `out` = the vehicles of sample `a` at time `t` (a.t <= t): each moved linearly towards its row in the
 * next sample `b`, or along its velocity when `b` is null or lacks it (it landed in between).
 */
export function interpolate(a, b, t, out) {
  const n = a.flight.length;
  out.reserve(n);
  out.n = n;
  out.names = null;
  out.flight.set(a.flight);
  out.mode.set(a.mode);
  out.sensed.set(a.sensed);
  const next = out.next;
  const bf = b ? b.flight : NO_ROWS;
  for (let i = 0, j = 0; i < n; i++) {
    const id = a.flight[i];
    while (j < bf.length && bf[j] < id) j++;
    next[i] = j < bf.length && bf[j] === id ? j : -1;
  }
  const dt = t - a.t;
  const f = b ? dt / (b.t - a.t) : 0;
  for (const [p, v] of AXES) {
    const [pa, va, po, vo] = [a[p], a[v], out[p], out[v]];
    const [pb, vb] = b ? [b[p], b[v]] : [pa, va];
    for (let i = 0; i < n; i++) {
      const j = next[i];
      if (j >= 0) {
        po[i] = pa[i] + (pb[j] - pa[i]) * f;
        vo[i] = va[i] + (vb[j] - va[i]) * f;
      } else {
        po[i] = pa[i] + va[i] * dt;
        vo[i] = va[i];
      }
    }
  }
  return out;
}

/** Trail points per vehicle, newest first: x[i * length + k] for k < count[i]. */
export class Trails {
  constructor(length) {
    this.length = length;
    this.n = 0;
    this.capacity = 0;
    this.reserve(0);
  }

  reserve(n) {
    this.n = n;
    if (n <= this.capacity && this.count) return;
    this.capacity = Math.max(n, this.capacity * 2, 1024);
    this.x = new Float32Array(this.capacity * this.length);
    this.y = new Float32Array(this.capacity * this.length);
    this.count = new Uint8Array(this.capacity);
  }

  /** Fill from earlier samples (ascending in time): each vehicle's rows found by a merge walk per sample. */
  fromSamples(vehicles, samples) {
    this.reserve(vehicles.n);
    this.count.fill(0, 0, vehicles.n);
    const open = new Uint8Array(vehicles.n).fill(1); // a vehicle's trail stops at its first missing sample
    const L = this.length;
    for (let k = samples.length - 1, depth = 0; k >= 0 && depth < L; k--, depth++) {
      const s = samples[k];
      const sf = s.flight;
      const sn = sf.length;
      let j = 0;
      for (let i = 0; i < vehicles.n; i++) {
        if (!open[i]) continue;
        const id = vehicles.flight[i];
        while (j < sn && sf[j] < id) j++;
        if (j < sn && sf[j] === id) {
          this.x[i * L + depth] = s.x[j];
          this.y[i * L + depth] = s.y[j];
          this.count[i] = depth + 1;
        } else {
          open[i] = 0;
        }
      }
    }
    return this;
  }
}

/**
 * Recorded frames of one run by time window: `fetchWindow(t0, t1, stride)` gives an ArrayBuffer; the
 * last `capacity` windows are kept, and a lookup uses the finest (smallest stride) window held.
 */
export class FrameStore {
  constructor(fetchWindow, { windowS = 60, capacity = 8 } = {}) {
    this.fetchWindow = fetchWindow;
    this.windowS = windowS;
    this.capacity = capacity;
    this.windows = new Map(); // "w/stride" -> FrameWindow, least recently used first
    this.loading = new Map(); // "w/stride" -> Promise
    this.requested = 0;
  }

  indexOf(t) {
    return Math.floor(t / this.windowS);
  }

  /** The held window `w` with the smallest stride not above `maxStride`, or null. */
  held(w, maxStride = Infinity) {
    let best = null;
    let bestKey = null;
    for (const [key, win] of this.windows) {
      if (key.startsWith(`${w}/`) && win.stride <= maxStride && (!best || win.stride < best.stride)) {
        best = win;
        bestKey = key;
      }
    }
    if (best) {
      this.windows.delete(bestKey);
      this.windows.set(bestKey, best);
    }
    return best;
  }

  /** Whether the window of `t` at `stride` is being fetched. */
  isLoading(t, stride) {
    return this.loading.has(`${this.indexOf(t)}/${stride}`);
  }

  /** Resolve when the window holding `t` is here at `stride` or finer (fetching it if needed). */
  async ensure(t, stride) {
    const w = this.indexOf(t);
    if (this.held(w, stride)) return;
    const key = `${w}/${stride}`;
    if (!this.loading.has(key)) {
      this.requested += 1;
      const t0 = w * this.windowS;
      const load = this.fetchWindow(t0, t0 + this.windowS, stride)
        .then((buffer) => {
          this.windows.set(key, parseFrames(buffer, stride));
          while (this.windows.size > this.capacity) this.windows.delete(this.windows.keys().next().value);
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, load);
    }
    await this.loading.get(key);
  }

  /** The vehicles at `t` into `out`; null when the window of `t` is not held yet. */
  vehiclesAt(t, out) {
    const w = this.indexOf(t);
    const win = this.held(w);
    if (!win) return null;
    const s = win.lastAtOrBefore(t);
    if (s < 0 || t - win.times[s] > win.step + EPS_S) {
      out.n = 0; // nothing airborne at t
      return out;
    }
    const a = win.sample(s);
    let b = null;
    if (s + 1 < win.times.length) {
      b = win.sample(s + 1);
    } else {
      const next = this.held(w + 1);
      const first = next ? next.lastAtOrBefore(a.t) + 1 : -1; // the next window repeats its start time
      if (next && first < next.times.length) b = next.sample(first);
    }
    if (b && b.t - a.t > 1.5 * win.step + EPS_S) b = null; // a gap: nothing airborne in between
    return interpolate(a, b, t, out);
  }

  /** Held samples in [t - spanS, t], ascending, thinned to at most `maxCount` (kept from the newest). */
  samplesBefore(t, spanS, maxCount) {
    const found = [];
    const w = this.indexOf(t);
    for (const win of [this.held(w - 1), this.held(w)]) {
      if (!win) continue;
      const last = win.lastAtOrBefore(t);
      for (let s = Math.max(0, win.lastAtOrBefore(t - spanS - EPS_S)); s <= last; s++) {
        const time = win.times[s];
        if (time >= t - spanS - EPS_S && (!found.length || time > found.at(-1).t + EPS_S)) found.push(win.sample(s));
      }
    }
    const every = Math.ceil(found.length / maxCount);
    return every <= 1 ? found : found.filter((_, k) => (found.length - 1 - k) % every === 0);
  }
}
