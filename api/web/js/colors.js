/**
 * Every colour the map draws with, in one place: vehicle classes, geofence restrictions, links, intents,
 * the cell-occupancy steps and the SINR ramp. The legend is built from these same tables.
 */

export const BACKGROUND = "#dde2e8";
export const REGION_FILL = "#f4f6f8";
export const REGION_EDGE = "#b9c2cd";
export const GRID_LINE = "rgba(70, 84, 102, 0.11)";
export const LABEL = "#1d2733";
export const LABEL_HALO = "rgba(255, 255, 255, 0.85)";

/** Vehicle marker classes, in drawing order (later ones on top). */
export const VEHICLE_CLASSES = [
  { key: "unseen", label: "non-coop. unseen", color: "#8d96a1" },
  { key: "nominal", label: "nominal", color: "#1f6fd1" },
  { key: "sensed", label: "sensed track", color: "#17703a" },
  { key: "advisory", label: "advisory", color: "#c026d3" },
  { key: "nonconforming", label: "nonconforming", color: "#e8710a" },
  { key: "contingent", label: "contingent", color: "#d92d20" },
];
export const CLASS_INDEX = Object.fromEntries(VEHICLE_CLASSES.map((c, k) => [c.key, k]));
export const SELECTED = "#0b1220";

export const RESTRICTION = {
  PROHIBITED: "#d92d20",
  REQ_AUTHORISATION: "#f08c00",
  CONDITIONAL: "#d4a900",
  NO_RESTRICTION: "#8d96a1",
};
export const RESTRICTION_LABEL = {
  PROHIBITED: "prohibited",
  REQ_AUTHORISATION: "authorisation",
  CONDITIONAL: "conditional",
  NO_RESTRICTION: "no restriction",
};

export const LINK = { conflict: "#e9a100", los: "#d92d20", nmac: "#b01810" };
export const SITE = "rgba(44, 54, 66, 0.35)";
export const HUB = "#2f3e50";
export const VERTIPORT = "#5b3fa6";

export const INTENT_FILL = "rgba(31, 111, 209, 0.09)";
export const INTENT_EDGE = "rgba(31, 111, 209, 0.38)";
export const INTENT_SELECTED_FILL = "rgba(11, 18, 32, 0.12)";
export const INTENT_SELECTED_EDGE = "rgba(11, 18, 32, 0.75)";
export const TRAIL = "rgba(40, 60, 90, 0.30)";

/** Live intents by F3548 state (outline colour). */
export const INTENT_STATE = {
  Accepted: "#5b7290",
  Activated: "#1f6fd1",
  Nonconforming: "#e8710a",
  Contingent: "#d92d20",
};
export const OFF_NOMINAL = "#e8710a";

/** Cell fill by occupancy / capacity: the first step whose `upTo` holds the ratio. */
export const OCCUPANCY_STEPS = [
  { upTo: 0.5, color: "rgba(46, 160, 67, 0.22)", label: "≤ 50 %" },
  { upTo: 0.8, color: "rgba(212, 169, 0, 0.32)", label: "≤ 80 %" },
  { upTo: 1.0, color: "rgba(240, 140, 0, 0.40)", label: "≤ 100 %" },
  { upTo: Infinity, color: "rgba(217, 45, 32, 0.45)", label: "over" },
];

/** Viridis-like stops for SINR, 0..1 over the legend's range. */
const SINR_STOPS = [
  [0.0, [68, 1, 84]],
  [0.25, [59, 82, 139]],
  [0.5, [33, 145, 140]],
  [0.75, [94, 201, 98]],
  [1.0, [253, 231, 37]],
];

/** The [r, g, b] of `u` in 0..1 (clamped) on the SINR ramp. */
export function rampRgb(u) {
  const v = Math.min(1, Math.max(0, u));
  for (let k = 1; k < SINR_STOPS.length; k++) {
    const [u1, c1] = SINR_STOPS[k];
    if (v <= u1) {
      const [u0, c0] = SINR_STOPS[k - 1];
      const f = (v - u0) / (u1 - u0);
      return [0, 1, 2].map((i) => Math.round(c0[i] + (c1[i] - c0[i]) * f));
    }
  }
  return SINR_STOPS.at(-1)[1];
}
