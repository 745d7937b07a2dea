/**
 * Replay playback: time moved on by the wall clock at the chosen speed, frame windows fetched ahead (larger
 * strides at higher speeds) and waited for, seeking, play and pause. It keeps `t`, `playing` and `pending`
 * of the page state (main.js `window.utm6g`) current and leaves drawing to main.js's loop.
 */

import { Vehicles } from "./frames.js";

const INCIDENT_LEAD_S = 10; // an incident is shown from this long before its start

/** Larger strides at higher speeds, so the samples fetched per wall-clock second stay about ten. */
const strideFor = (speed) => Math.max(1, Math.round(speed / 10));

/** The replay's clock and frame fetching, driven by the time controls and main.js's draw loop. */
export class Playback {
  /**
   * `source` a ReplaySource, `page` the page state, `time` the TimeControls; `render()` draws now (true
   * when the frame's data was here), `requestDraw()` asks for a frame, `onTime(t)` follows every time
   * change and `report(err)` shows a failure.
   */
  constructor({ source, page, time, render, requestDraw, onTime, report }) {
    Object.assign(this, { source, page, time, render, requestDraw, onTime, report });
    this.lastWallMs = null;
    this.pair = new Vehicles(); // an incident's vehicles, found at two times
  }

  /** Move playback time on by the wall time elapsed; wait (buffer) while the next window is fetched. */
  advance(nowMs) {
    const { page, source } = this;
    const dtS = this.lastWallMs === null ? 0 : Math.min((nowMs - this.lastWallMs) / 1000, 0.25);
    this.lastWallMs = nowMs;
    const frames = source.frames;
    const stride = strideFor(page.speed);
    const next = Math.min(page.t + dtS * page.speed, source.tMax);
    if (frames.held(frames.indexOf(next))) {
      this.setTime(next);
      if (next >= source.tMax) this.pause();
    } else {
      this.fetch(next, stride);
    }
    if ((frames.indexOf(next) + 1) * frames.windowS <= source.tMax) this.fetch(next + frames.windowS, stride); // ahead
  }

  /** Start fetching the window of `t` unless it is here or on its way; a failure pauses playback. */
  fetch(t, stride) {
    const frames = this.source.frames;
    if (frames.held(frames.indexOf(t), stride) || frames.isLoading(t, stride)) return;
    frames.ensure(t, stride).then(this.requestDraw, (err) => {
      this.report(err);
      this.pause();
    });
  }

  setTime(t) {
    this.page.t = t;
    this.time.setTime(t, this.source.startMs);
    this.onTime(t);
  }

  /** Go to `t` (clamped to the run); resolves once the frame at `t` is drawn (true when its data was here). */
  async seek(t) {
    const { page, source } = this;
    this.setTime(Math.min(source.tMax, Math.max(source.tMin, Number(t))));
    page.pending += 1;
    try {
      await source.frames.ensure(page.t, page.playing ? strideFor(page.speed) : 1);
    } catch (err) {
      this.report(err);
    } finally {
      page.pending -= 1;
    }
    return this.render();
  }

  play() {
    if (this.page.t >= this.source.tMax) this.setTime(this.source.tMin);
    this.page.playing = true;
    this.lastWallMs = null;
    this.time.setPlaying(true);
    this.requestDraw();
  }

  /** Stop where it is, without drawing again. */
  stop() {
    this.page.playing = false;
    this.time.setPlaying(false);
  }

  /** Stop, and draw the current time again from every sample (playing may have used a stride). */
  pause() {
    this.stop();
    this.seek(this.page.t);
  }

  toggle() {
    if (this.page.playing) this.pause();
    else this.play();
  }

  /**
   * Stop just before incident `inc`, `select` its party a and `frame(points)` the pair, as it is then and
   * at its closest approach.
   */
  async goToIncident(inc, select, frame) {
    this.stop();
    await this.seek(Math.max(this.source.tMin, inc.start_s - INCIDENT_LEAD_S));
    select(inc.a);
    const points = [];
    for (const t of [this.page.t, inc.closest_s]) {
      try {
        await this.source.frames.ensure(t, 1);
      } catch (err) {
        this.report(err);
        continue;
      }
      const at = this.source.vehiclesAt(t, this.pair);
      for (const id of at ? [inc.a, inc.b] : []) {
        const i = at.indexOf(id);
        if (i >= 0) points.push([at.x[i], at.y[i]]);
      }
    }
    if (points.length) frame(points);
  }
}
