/**
 * Airspace-cell occupancy of the vehicles drawn, computed in the page: each vehicle is placed in its
 * (i, j, layer) cell on the grid's x/y edges (found from an even-spacing guess) and by binary search on the
 * layers' altitude bounds, and the count is divided by the cell's capacity (map.grid of docs/map-api.md).
 */

export class CellOccupancy {
  constructor(grid) {
    this.xEdges = Float64Array.from(grid.x_edges_m);
    this.yEdges = Float64Array.from(grid.y_edges_m);
    this.layers = [...grid.layers].sort((a, b) => a.z_lower_m - b.z_lower_m);
    this.layerOrder = this.layers.map((layer) => grid.layers.indexOf(layer));
    this.zLower = Float64Array.from(this.layers, (l) => l.z_lower_m);
    this.nx = this.xEdges.length - 1;
    this.ny = this.yEdges.length - 1;
    this.nk = grid.layers.length;
    this.xPerM = spacingInverse(this.xEdges);
    this.yPerM = spacingInverse(this.yEdges);
    this.capacity = new Float32Array(this.nx * this.ny * this.nk); // [(i * ny + j) * nk + k]
    grid.capacity.forEach((column, i) =>
      column.forEach((layers, j) => layers.forEach((c, k) => (this.capacity[(i * this.ny + j) * this.nk + k] = c))),
    );
    this.counts = new Uint16Array(this.capacity.length);
    this.ratio = new Float32Array(this.nx * this.ny); // per (i, j): i * ny + j
  }

  /**
   * Occupancy / capacity per (i, j) for the vehicles: the highest over layers (`layer` -1) or that of one
   * layer (index into grid.layers). A cell without vehicles is 0; one over a zero capacity is Infinity.
   */
  update(vehicles, layer) {
    const { nx, ny, nk, counts, ratio, capacity } = this;
    counts.fill(0);
    for (let v = 0; v < vehicles.n; v++) {
      const i = lastEdgeFrom(this.xEdges, this.xPerM, vehicles.x[v]);
      const j = lastEdgeFrom(this.yEdges, this.yPerM, vehicles.y[v]);
      if (i < 0 || i >= nx || j < 0 || j >= ny) continue;
      const sorted = lastEdgeAtOrBelow(this.zLower, vehicles.z[v]);
      if (sorted < 0 || vehicles.z[v] >= this.layers[sorted].z_upper_m) continue; // between layers
      counts[(i * ny + j) * nk + this.layerOrder[sorted]] += 1;
    }
    for (let c = 0; c < nx * ny; c++) {
      let best = 0;
      for (let k = layer < 0 ? 0 : layer; k < (layer < 0 ? nk : layer + 1); k++) {
        const n = counts[c * nk + k];
        if (n) best = Math.max(best, capacity[c * nk + k] > 0 ? n / capacity[c * nk + k] : Infinity);
      }
      ratio[c] = best;
    }
    return ratio;
  }
}

/** Edges per metre if they were evenly spaced (0 for fewer than two): the guess of lastEdgeFrom. */
function spacingInverse(edges) {
  const span = edges[edges.length - 1] - edges[0];
  return edges.length > 1 && span > 0 ? (edges.length - 1) / span : 0;
}

/**
 * Index of the last edge <= v (-1 below the first, also for NaN) on ascending edges: guessed from the even
 * spacing `perM` and walked to the exact edge, so a grid's (evenly spaced, rounded) edges cost a step or two.
 */
function lastEdgeFrom(edges, perM, v) {
  const last = edges.length - 1;
  let i = Math.floor((v - edges[0]) * perM);
  if (!(i > -1)) i = -1;
  else if (i > last) i = last;
  while (i >= 0 && edges[i] > v) i--;
  while (i < last && edges[i + 1] <= v) i++;
  return i;
}

/** Index of the last edge <= v (-1 below the first): binary search on ascending edges. */
function lastEdgeAtOrBelow(edges, v) {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
