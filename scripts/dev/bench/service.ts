/**
 * The provisioning service, measured: how long a request takes from POST to `assigned` against
 * the stand-in's configured IP delay (the floor: Hostwinds' own time to deliver an IP), with
 * where the rest goes (commit and push, engine start, purchase, outputs); and how many requests a
 * minute the service carries out across many tenants at once (each tenant's first request also
 * buys its server). A private Postgres, the stand-ins, the service as its own process.
 */
import * as fs from "fs";
import { ServiceRequest, startServiceEnvironment } from "../service-harness";
import { CloudflareSim } from "../standins/cloudflare";
import { DnsSim } from "../standins/dns";
import { HostwindsSim } from "../standins/hostwinds";

/** How the service runs a request's `up`: the CLI program per request (`serve --no-inline`), or inline in the slot's engine worker. */
export type ServiceEngineMode = "cli" | "inline";

export interface ServiceLatency {
  mode: ServiceEngineMode;
  totalMs: number;
  ratio: number;
  toConfirmedMs: number;
  toPurchasingMs: number;
  toAssignedMs: number;
  /** The service's own account of where the request's time went (service/apply.ts logs it). */
  steps: string;
  /** /proc/loadavg's 1-minute figure before and after the request. */
  load: [number, number];
}

export interface ServiceBenchResult {
  ipDelayMs: number;
  latency: ServiceLatency[];
  concurrency: number;
  tenants: number;
  throughput?: { seconds: number; perMinute: number; assigned: number; failed: number; ipsBought: number; ipsAsked: number };
}

const tenant = (id: string) => ({
  id,
  tier: "growth",
  monthlyBudgetUsd: 50,
  zone: `${id}-mail.com`,
  domains: [{ name: `${id}-mail.com` }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 0 }],
  warmup: "standard",
});

const load1 = () => Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

/**
 * Request → assigned, with the given engine modes side by side: per round, each mode in turn (the
 * order alternating by round) gets a service started in that mode and a tenant of its own, whose
 * first request buys its server and warms the slot's engine (not measured); the next one, an IP
 * delivered after the delay, is measured.
 */
// eslint-disable-next-line max-lines-per-function -- a bench script read top to bottom: setup, latency rounds, throughput
export async function serviceBench(o: {
  ipDelayMs: number;
  tenants: number;
  concurrency: number;
  modes?: ServiceEngineMode[];
  rounds?: number;
  progress: (l: string) => void;
}): Promise<ServiceBenchResult> {
  const modes = o.modes ?? ["cli", "inline"];
  const rounds = o.rounds ?? 1;
  const ids = Array.from({ length: o.tenants }, (_, i) => `bench${String(i + 1).padStart(3, "0")}`);
  const latencyIds = Array.from({ length: rounds * modes.length }, (_, i) => `latency${i + 1}`);
  // The tenants' domains verify (a DNS stand-in serving the Cloudflare stand-in's records): a
  // tenant with a failing domain has each up refresh first (service/apply.ts), about 1 s more.
  const at: { cf?: CloudflareSim; sim?: HostwindsSim } = {};
  const dns = await new DnsSim({ records: () => at.cf?.allRecords() ?? [], ptr: (ip) => at.sim?.ptr(ip) }).start();
  const env = await startServiceEnvironment({
    name: "bench-service",
    tenants: [...latencyIds.map(tenant), ...ids.map(tenant)],
    concurrency: o.concurrency,
    args: (sim, cf) => (Object.assign(at, { sim, cf }), ["--resolver", dns.address, "--no-smtp"]),
  });
  const flags = (m: ServiceEngineMode) => (m === "cli" ? ["--no-inline"] : []);
  try {
    const ask = async (t: string) =>
      (await env.api<ServiceRequest>("POST", `/tenants/${t}/requests`, { kind: "acquire_ips", params: { server: "mx1", count: 1 } })).body
        .id;
    const latency: ServiceLatency[] = [];
    let mode: ServiceEngineMode | undefined;
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      for (const m of round % 2 ? [...modes].reverse() : modes) {
        const t = latencyIds[n++];
        if (m !== mode) await env.restart(flags(m));
        mode = m;
        o.progress(`latency (${m}), round ${round + 1}: a first request buys ${t}'s server and warms the engine (not measured)`);
        await env.settle(await ask(t));
        env.sim.setTiming({ buildMs: 200, ipDelayMs: o.ipDelayMs });
        o.progress(`latency (${m}), round ${round + 1}: one more IP with the stand-in delivering IPs after ${o.ipDelayMs / 1000} s`);
        const before = load1();
        const t0 = Date.now();
        const when: Record<string, number> = {};
        const id = await ask(t);
        const done = await env.settle(id, (s) => (when[s] = Date.now() - t0));
        const totalMs = Date.now() - t0;
        env.sim.setTiming({ buildMs: 200, ipDelayMs: 300 });
        if (done.status !== "assigned") throw new Error(`the latency request (${m}) ended ${done.status}: ${done.failureReason}`);
        // The service logs its steps just after the row moves: wait for the line a little.
        const took = new RegExp(`request ${id} \\(${t}\\): took (.*)`);
        for (let i = 0; i < 50 && !took.test(env.service.output()); i++) await new Promise((r) => setTimeout(r, 100));
        latency.push({
          mode: m,
          totalMs,
          ratio: totalMs / o.ipDelayMs,
          toConfirmedMs: when.confirmed ?? NaN,
          toPurchasingMs: when.purchasing ?? NaN,
          toAssignedMs: when.assigned ?? NaN,
          steps: took.exec(env.service.output())?.[1] ?? "(not logged)",
          load: [before, load1()],
        });
      }
    }
    if (!ids.length) return { ipDelayMs: o.ipDelayMs, latency, concurrency: o.concurrency, tenants: 0 };

    o.progress(`throughput (${mode}): ${o.tenants} tenants, one request each, all at once (service concurrency ${o.concurrency})`);
    const boughtBefore = env.sim.ledger(env.hostwindsKey).filter((e) => e.kind === "ip" && e.event === "bought").length;
    const s0 = Date.now();
    const reqs = await Promise.all(ids.map(ask));
    let finished = 0;
    const results = await Promise.all(
      reqs.map((id) =>
        env.settle(id).then((r) => {
          finished++;
          if (finished % Math.max(1, Math.floor(o.tenants / 10)) === 0)
            o.progress(`throughput: ${finished}/${o.tenants} done, ${((Date.now() - s0) / 1000).toFixed(0)} s`);
          return r;
        }),
      ),
    );
    const seconds = (Date.now() - s0) / 1000;
    const ipsBought = env.sim.ledger(env.hostwindsKey).filter((e) => e.kind === "ip" && e.event === "bought").length - boughtBefore;
    return {
      ipDelayMs: o.ipDelayMs,
      latency,
      concurrency: o.concurrency,
      tenants: o.tenants,
      throughput: {
        seconds,
        perMinute: (o.tenants / seconds) * 60,
        assigned: results.filter((r) => r.status === "assigned").length,
        failed: results.filter((r) => r.status !== "assigned").length,
        ipsBought,
        ipsAsked: o.tenants,
      },
    };
  } finally {
    await env.stop();
    await dns.stop();
  }
}

export function printServiceBench(r: ServiceBenchResult): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`\nProvisioning service (private Postgres, service process, policy pack on, stand-ins on loopback)`);
  console.log(`  request → assigned, one IP on an existing server, stand-in IP delay ${s(r.ipDelayMs)} (target ≤ 1.05×):`);
  for (const l of r.latency) {
    console.log(
      `    ${l.mode.padEnd(6)} ${s(l.totalMs)} in all = ${l.ratio.toFixed(3)}× the delay; fixed overhead ${s(l.totalMs - r.ipDelayMs)}; ` +
        `confirmed (committed, pushed) at ${s(l.toConfirmedMs)}, purchasing at ${s(l.toPurchasingMs)}, assigned at ${s(l.toAssignedMs)}; load ${l.load[0].toFixed(1)} → ${l.load[1].toFixed(1)}`,
    );
    console.log(`           the service's steps: ${l.steps}`);
  }
  const by = (m: ServiceEngineMode) => r.latency.filter((l) => l.mode === m).map((l) => l.ratio);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  if (by("cli").length && by("inline").length)
    console.log(`    median ratio: cli ${median(by("cli")).toFixed(3)}×, inline ${median(by("inline")).toFixed(3)}×`);
  const t = r.throughput;
  if (!t) return;
  console.log(
    `  ${r.tenants} tenants, one request each at once (each buys a server and an IP), service concurrency ${r.concurrency}: ` +
      `${t.seconds.toFixed(1)} s, ${t.perMinute.toFixed(1)} requests/minute; ${t.assigned} assigned, ${t.failed} not; IPs bought ${t.ipsBought} for ${t.ipsAsked} asked`,
  );
  console.log(
    "    (the Cloudflare stand-in's rate limit is off here: at 1,200 requests / 5 min one token caps a run of new tenants first)",
  );
}
