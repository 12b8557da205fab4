/**
 * The Hostwinds stand-in under load with faults on: many concurrent clients
 * fire mixed reads and purchases; purchases asked must equal purchases in
 * the ledger (none lost, none doubled). Reports requests per second and
 * p50/p99 latency.
 */
import { request } from "undici";
import { HostwindsSim, IMAGES } from "../standins/hostwinds";
import { encodeForm } from "../../../providers/hostwinds/wire";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function loadTest(total: number, clients: number) {
  const keys = Array.from({ length: 4 }, (_, i) => `bench-key-${i}`);
  const sim = await new HostwindsSim({ apiKeys: keys, buildMs: 0, ipDelayMs: 0 }).start();
  // Seed one ACTIVE server per account to buy IPs on.
  const post = (fields: Record<string, string | number>) =>
    request(sim.url, { method: "POST", body: encodeForm(fields), headers: { "content-type": "application/x-www-form-urlencoded" } });
  const servers: Record<string, number> = {};
  for (const k of keys) {
    await (
      await post({ action: "add_instance", API: k, template: IMAGES[0].uuid, rid: 101, location_id: 1, srvrname: "bench" })
    ).body.text();
    const list = JSON.parse(await (await post({ action: "get_instances", API: k })).body.text());
    servers[k] = list.success[0].serviceid;
  }
  const ledgerBefore = Object.fromEntries(keys.map((k) => [k, sim.ledger(k).filter((e) => e.event === "bought").length]));

  let asked = 0; // purchases the server may have committed: answered success, or dropped after commit
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  sim.faults = {
    http429: Math.floor(total * 0.02),
    rateLimitBody: Math.floor(total * 0.02),
    http5xx: Math.floor(total * 0.01),
    dropAfterPurchase: Math.floor(total * 0.01),
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (next < total) {
        const n = next++;
        const key = keys[(n + c) % keys.length];
        const kind = n % 10;
        const fields: Record<string, string | number> =
          kind < 2
            ? { action: "add_ip", API: key, serviceid: servers[key] }
            : kind < 6
              ? { action: "get_instance_ips", API: key, serviceid: servers[key] }
              : kind < 9
                ? { action: "get_instances", API: key }
                : { action: "get_price_list", API: key };
        const s = process.hrtime.bigint();
        try {
          const res = await post(fields);
          const text = await res.body.text();
          if (fields.action === "add_ip" && res.statusCode === 200 && text.includes('"Add IP"') && !text.includes('"error"')) asked++;
          if (res.statusCode !== 200 || text.includes('"result":"error"')) errors++;
        } catch {
          // A dropped connection after a purchase: the stand-in committed it.
          if (fields.action === "add_ip") asked++;
          errors++;
        }
        latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const inLedger = keys.reduce((n, k) => n + sim.ledger(k).filter((e) => e.event === "bought").length - ledgerBefore[k], 0);
  await sim.stop();
  latencies.sort((a, b) => a - b);
  return {
    total,
    clients,
    seconds,
    rps: total / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    asked,
    inLedger,
  };
}

export function printLoadTest(r: Awaited<ReturnType<typeof loadTest>>): boolean {
  console.log("Hostwinds stand-in under load, faults on");
  console.log(`  requests ${r.total} from ${r.clients} concurrent clients in ${r.seconds.toFixed(2)} s: ${r.rps.toFixed(0)} requests/s`);
  console.log(`  latency p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms; fault answers ${r.errors}`);
  console.log(`  purchases asked ${r.asked}, in the ledger ${r.inLedger}: ${r.asked === r.inLedger ? "match" : "MISMATCH"}`);
  return r.asked === r.inLedger;
}
