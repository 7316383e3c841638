/**
 * Graph algorithms over a flow's steps, by index. `deps[i]` lists the steps step i waits for;
 * data flows from a dependency to the step that reads it.
 */

export type Deps = ReadonlyArray<ReadonlyArray<number>>;

/** Kahn's algorithm, ready steps taken in index order. Steps on or behind a cycle are left out. */
export function topologicalOrder(deps: Deps): number[] {
  const dependents = invert(deps);
  const waiting = deps.map((d) => d.length);
  const order: number[] = [];
  for (let i = 0; i < deps.length; i++) if (waiting[i] === 0) order.push(i);
  for (let head = 0; head < order.length; head++) {
    for (const next of dependents[order[head]!]!) if (--waiting[next]! === 0) order.push(next);
  }
  return order;
}

/** Who waits for each step. */
export function invert(deps: Deps): number[][] {
  const dependents: number[][] = deps.map(() => []);
  deps.forEach((d, i) => d.forEach((dep) => dependents[dep]!.push(i)));
  return dependents;
}

/**
 * One cycle per strongly connected group of steps, each in data-flow order starting at its
 * lowest index (`[a, b]` means a feeds b feeds a). Self-loops are not reported here.
 */
export function findCycles(deps: Deps): number[][] {
  const dependents = invert(deps);
  return stronglyConnected(dependents)
    .filter((group) => group.length > 1)
    .map((group) => shortestCycleThrough(Math.min(...group), new Set(group), dependents));
}

/** Tarjan's algorithm over `edges` (i → edges[i]). */
function stronglyConnected(edges: number[][]): number[][] {
  const index = new Array<number>(edges.length).fill(-1);
  const low = new Array<number>(edges.length).fill(0);
  const onStack = new Array<boolean>(edges.length).fill(false);
  const stack: number[] = [];
  const groups: number[][] = [];
  let counter = 0;
  const connect = (v: number): void => {
    index[v] = low[v] = counter++;
    stack.push(v);
    onStack[v] = true;
    for (const w of edges[v]!) {
      if (index[w] === -1) {
        connect(w);
        low[v] = Math.min(low[v]!, low[w]!);
      } else if (onStack[w]) low[v] = Math.min(low[v]!, index[w]!);
    }
    if (low[v] !== index[v]) return;
    const group: number[] = [];
    let w: number;
    do {
      w = stack.pop()!;
      onStack[w] = false;
      group.push(w);
    } while (w !== v);
    groups.push(group);
  };
  for (let v = 0; v < edges.length; v++) if (index[v] === -1) connect(v);
  return groups;
}

/** Breadth-first from `start` back to itself inside `group`. */
function shortestCycleThrough(start: number, group: Set<number>, edges: number[][]): number[] {
  const cameFrom = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head]!;
    for (const w of edges[v]!) {
      if (!group.has(w)) continue;
      if (w === start) {
        const cycle = [v];
        for (let u = v; u !== start; ) cycle.unshift((u = cameFrom.get(u)!));
        return cycle;
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/**
 * The heaviest chain of dependent steps, `order` being a topological order: the critical path
 * when `weight` is each step's latency.
 */
export function heaviestPath(order: readonly number[], deps: Deps, weight: (i: number) => number): { path: number[]; total: number } {
  const total = new Array<number>(deps.length).fill(0);
  const previous = new Array<number>(deps.length).fill(-1);
  let end = -1;
  for (const i of order) {
    let best = -1;
    for (const dep of deps[i]!) if (best === -1 || total[dep]! > total[best]!) best = dep;
    total[i] = weight(i) + (best === -1 ? 0 : total[best]!);
    previous[i] = best;
    if (end === -1 || total[i]! > total[end]!) end = i;
  }
  const path: number[] = [];
  for (let i = end; i !== -1; i = previous[i]!) path.unshift(i);
  return { path, total: end === -1 ? 0 : total[end]! };
}
