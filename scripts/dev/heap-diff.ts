/**
 * What a process kept between two heap snapshots of it (V8 .heapsnapshot files, as
 * v8.writeHeapSnapshot writes them; the worker-memory bench's --heap-snapshot-dir):
 *
 *   node dist/scripts/dev/heap-diff.js BEFORE.heapsnapshot AFTER.heapsnapshot [--top N]
 *
 * Prints (1) the object kinds (constructor, closure name, internal kind) whose count and size grew
 * the most; (2) the objects of the second snapshot that are new (their ids are not in the first:
 * V8 keeps an object's id across snapshots of one process), grouped by the first object that is
 * not new on their shortest path from the roots, with that object's own path: what holds the growth.
 * Node's JSON.parse is not used for the node and edge arrays (a large snapshot's text passes the
 * longest string V8 allows).
 */
import * as fs from "fs";

interface Snapshot {
  nodeFields: string[];
  nodeTypes: string[];
  edgeFields: string[];
  edgeTypes: string[];
  nodes: Float64Array;
  edges: Float64Array;
  strings: string[];
}

/** The numbers of the JSON array that starts at `key`'s "[" in `buf`. */
function numberArray(buf: Buffer, key: string): Float64Array {
  const start = buf.indexOf(`"${key}":[`);
  if (start < 0) throw new Error(`no "${key}" array in the snapshot`);
  let i = start + key.length + 4;
  let out = new Float64Array(1 << 20);
  let n = 0;
  let cur = 0;
  let inNumber = false;
  for (; ; i++) {
    const c = buf[i];
    if (c >= 48 && c <= 57) {
      cur = cur * 10 + (c - 48);
      inNumber = true;
    } else {
      if (inNumber) {
        if (n === out.length) {
          const bigger = new Float64Array(out.length * 2);
          bigger.set(out);
          out = bigger;
        }
        out[n++] = cur;
        cur = 0;
        inNumber = false;
      }
      if (c === 93 /* ] */) break;
    }
  }
  return out.subarray(0, n);
}

/** The "strings" array, read string by string. */
function stringArray(buf: Buffer): string[] {
  const start = buf.indexOf(`"strings":[`);
  if (start < 0) throw new Error(`no "strings" array in the snapshot`);
  const out: string[] = [];
  let i = start + 11;
  for (;;) {
    while (buf[i] !== 34 /* " */ && buf[i] !== 93) i++;
    if (buf[i] === 93) break;
    let j = i + 1;
    while (buf[j] !== 34) j += buf[j] === 92 /* \ */ ? 2 : 1;
    out.push(JSON.parse(buf.toString("utf8", i, j + 1)) as string);
    i = j + 1;
  }
  return out;
}

export function readSnapshot(file: string): Snapshot {
  const buf = fs.readFileSync(file);
  const nodesAt = buf.indexOf(`"nodes":[`);
  const head = buf.toString("utf8", 0, nodesAt).replace(/,\s*$/, "") + "}";
  const meta = (JSON.parse(head) as { snapshot: { meta: Record<string, unknown> } }).snapshot.meta as {
    node_fields: string[];
    node_types: [string[], ...unknown[]];
    edge_fields: string[];
    edge_types: [string[], ...unknown[]];
  };
  return {
    nodeFields: meta.node_fields,
    nodeTypes: meta.node_types[0],
    edgeFields: meta.edge_fields,
    edgeTypes: meta.edge_types[0],
    nodes: numberArray(buf, "nodes"),
    edges: numberArray(buf, "edges"),
    strings: stringArray(buf),
  };
}

/** A node's kind: its constructor or closure name, or its internal kind; strings are one kind. */
function kindOf(s: Snapshot, node: number): string {
  const nf = s.nodeFields.length;
  const type = s.nodeTypes[s.nodes[node * nf + s.nodeFields.indexOf("type")]];
  const name = s.strings[s.nodes[node * nf + s.nodeFields.indexOf("name")]];
  if (type === "string" || type === "concatenated string" || type === "sliced string") return "(string)";
  if (type === "number") return "(number)";
  if (type === "object" || type === "native") return name.length > 80 ? `${name.slice(0, 80)}…` : name;
  if (type === "closure") return `${name || "(anonymous)"}()`;
  if (type === "code") return "(code)";
  return `(${type}${name && type !== "hidden" ? ` ${name.slice(0, 60)}` : ""})`;
}

interface Graph {
  count: number;
  ids: Float64Array;
  sizes: Float64Array;
  /** Shortest-path parent (from the root, weak edges left out) and the edge's label; -1 when unreachable. */
  parent: Int32Array;
  parentEdge: string[];
  /** Nodes in order of distance from the root. */
  order: Int32Array;
  orderLength: number;
}

function graphOf(s: Snapshot): Graph {
  const nf = s.nodeFields.length;
  const ef = s.edgeFields.length;
  const count = s.nodes.length / nf;
  const fId = s.nodeFields.indexOf("id");
  const fSize = s.nodeFields.indexOf("self_size");
  const fEdges = s.nodeFields.indexOf("edge_count");
  const eType = s.edgeFields.indexOf("type");
  const eName = s.edgeFields.indexOf("name_or_index");
  const eTo = s.edgeFields.indexOf("to_node");
  const ids = new Float64Array(count);
  const sizes = new Float64Array(count);
  const firstEdge = new Int32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    ids[n] = s.nodes[n * nf + fId];
    sizes[n] = s.nodes[n * nf + fSize];
    firstEdge[n] = e;
    e += s.nodes[n * nf + fEdges];
    firstEdge[n + 1] = e;
  }
  const parent = new Int32Array(count).fill(-1);
  const parentEdgeIndex = new Int32Array(count).fill(-1);
  const order = new Int32Array(count);
  let head = 0;
  let tail = 0;
  order[tail++] = 0;
  parent[0] = 0;
  const weak = s.edgeTypes.indexOf("weak");
  const shortcut = s.edgeTypes.indexOf("shortcut");
  const synthetic = s.nodeTypes.indexOf("synthetic");
  const fType = s.nodeFields.indexOf("type");
  // As DevTools does: paths from the program's own roots (the global object) first, then from V8's (handles, stack, …).
  for (const enterSynthetic of [false, true]) {
    if (enterSynthetic) head = 0;
    while (head < tail) {
      const n = order[head++];
      for (let e = firstEdge[n]; e < firstEdge[n + 1]; e++) {
        const t = s.edges[e * ef + eType];
        if (t === weak || (t === shortcut && n !== 0)) continue;
        const to = s.edges[e * ef + eTo] / nf;
        if (parent[to] !== -1) continue;
        if (!enterSynthetic && s.nodes[to * nf + fType] === synthetic) continue;
        parent[to] = n;
        parentEdgeIndex[to] = e;
        order[tail++] = to;
      }
    }
  }
  const parentEdge: string[] = new Array<string>(count);
  for (let n = 0; n < count; n++) {
    const e = parentEdgeIndex[n];
    if (e < 0) continue;
    const type = s.edgeTypes[s.edges[e * ef + eType]];
    const v = s.edges[e * ef + eName];
    parentEdge[n] = type === "element" || type === "hidden" ? `[${v}]` : `.${s.strings[v]}`;
  }
  return { count, ids, sizes, parent, parentEdge, order, orderLength: tail };
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(2);
}

function pathOf(s: Snapshot, g: Graph, node: number, hops = 10): string {
  const parts: string[] = [];
  let n = node;
  for (let i = 0; i < hops && n > 0; i++) {
    parts.unshift(`${kindOf(s, g.parent[n])}${g.parentEdge[n]}`);
    n = g.parent[n];
  }
  return (n > 0 ? "… " : "") + parts.join(" → ");
}

function main(): void {
  const args = process.argv.slice(2);
  const topAt = args.indexOf("--top");
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
  if (args.length !== 2) throw new Error("usage: node dist/scripts/dev/heap-diff.js BEFORE.heapsnapshot AFTER.heapsnapshot [--top N]");
  const [a, b] = args.map(readSnapshot);
  const ga = graphOf(a);
  const gb = graphOf(b);

  const byKind = (s: Snapshot, g: Graph) => {
    const m = new Map<string, { count: number; size: number }>();
    for (let i = 0; i < g.orderLength; i++) {
      const n = g.order[i];
      const k = kindOf(s, n);
      const x = m.get(k) ?? { count: 0, size: 0 };
      x.count++;
      x.size += g.sizes[n];
      m.set(k, x);
    }
    return m;
  };
  const ka = byKind(a, ga);
  const kb = byKind(b, gb);
  const total = (m: Map<string, { size: number }>) => [...m.values()].reduce((t, x) => t + x.size, 0);
  console.log(`reachable: ${mib(total(ka))} MiB in ${ga.orderLength} objects → ${mib(total(kb))} MiB in ${gb.orderLength} objects`);
  console.log(`\nGrowth by kind (count, self size), top ${top}:`);
  const rows = [...new Set([...ka.keys(), ...kb.keys()])].map((k) => {
    const x = ka.get(k) ?? { count: 0, size: 0 };
    const y = kb.get(k) ?? { count: 0, size: 0 };
    return { k, dc: y.count - x.count, ds: y.size - x.size, count: y.count };
  });
  for (const r of rows.sort((p, q) => q.ds - p.ds).slice(0, top))
    console.log(`  ${mib(r.ds).padStart(8)} MiB  ${String(r.dc >= 0 ? `+${r.dc}` : r.dc).padStart(8)}  (now ${r.count})  ${r.k}`);

  // New objects, each charged to the first old object on its path from the root.
  const old = new Set<number>();
  for (let i = 0; i < ga.orderLength; i++) old.add(ga.ids[ga.order[i]]);
  const holder = new Int32Array(gb.count).fill(-1);
  /** The new object right below the holder on the path. */
  const entry = new Int32Array(gb.count).fill(-1);
  const groups = new Map<string, { size: number; count: number; holder: number; sample: number }>();
  let newSize = 0;
  for (let i = 1; i < gb.orderLength; i++) {
    const n = gb.order[i];
    if (old.has(gb.ids[n])) continue;
    const p = gb.parent[n];
    holder[n] = holder[p] >= 0 ? holder[p] : p;
    entry[n] = holder[p] >= 0 ? entry[p] : n;
    const h = holder[n];
    // The holder and the edge from it into the new objects name the group.
    const key = `${kindOf(b, h)}${gb.parentEdge[entry[n]]}`;
    const x = groups.get(key) ?? { size: 0, count: 0, holder: h, sample: n };
    x.size += gb.sizes[n];
    x.count++;
    groups.set(key, x);
    newSize += gb.sizes[n];
  }
  console.log(`\nNew objects (${mib(newSize)} MiB) by the old object that holds them, top ${top}:`);
  for (const [k, x] of [...groups].sort((p, q) => q[1].size - p[1].size).slice(0, top)) {
    console.log(`  ${mib(x.size).padStart(8)} MiB  ${String(x.count).padStart(8)} objects  held by ${k}`);
    console.log(`             path: ${pathOf(b, gb, x.holder)}`);
  }
}

if (require.main === module) main();
