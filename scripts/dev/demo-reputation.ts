/**
 * The demo's reputation section (`npm run demo -- --service`): the journeys' "Initiate Recovery
 * Protocol" brings a paused IP back with a fresh warm-up, the customer changes its warm-up plan (PUT
 * …/warmup), the platform's usage reports carry complaints, and monitoring passes show the IP's
 * reputation score falling until the automatic switch (opted in below a score) pauses it and its
 * standby takes over. Blocklists come from the DNS stand-in: one list that does not list the IP,
 * one that refuses to answer (127.255.255.254: "unknown", never "listed").
 */
import { Pool } from "pg";
import { monitorOnce } from "../../service/monitor";
import { DnsSim } from "./standins/dns";
import type { ServiceEnvironment, ServiceRequest } from "./service-harness";

type Line = (s: string) => void;
type Ask = (what: string, kind: string, params: Record<string, unknown>) => Promise<ServiceRequest>;

interface IpView {
  ip: string;
  role: string;
  warmup: { day: number | null; maxMessages: number | null; sentToday?: number; restartedOn?: string | null };
  reputation: { score: number; penalties: Record<string, number>; inputs: { complaintRate: number | null } } | null;
}

export async function reputationDemo(env: ServiceEnvironment, say: Line, detail: Line, ask: Ask): Promise<void> {
  const tenant = "demo-acme";
  const ips = async () => (await env.api<{ ips: IpView[] }>("GET", `/tenants/${tenant}/ips`)).body.ips;
  const paused = (await ips()).find((i) => i.role === "paused");
  if (!paused) return detail("no paused IP to recover: reputation section skipped");
  const ip = paused.ip;

  const recovered = await ask(`the dashboard's 'Initiate Recovery Protocol' for ${ip}: resume with a fresh warm-up`, "recover_ip", {
    ip,
    action: "resume",
  });
  detail(`now sending: ${recovered.result?.nowSending?.join(", ")}`);

  const plan = { startVolume: 30, dailyGrowthPercent: 25, ceiling: 2000 };
  say(`PUT /tenants/${tenant}/ips/${ip}/warmup ${JSON.stringify(plan)}  (the customer's warm-up plan)`);
  const put = await env.api<ServiceRequest & { status: string }>("PUT", `/tenants/${tenant}/ips/${ip}/warmup`, plan);
  const done = await env.settle(put.body.id);
  detail(`set_warmup ${done.status}: the relay's cap follows on the server without restarting MailU`);
  const bad = await env.api<{ errors?: Array<{ field: string; message: string }> }>("PUT", `/tenants/${tenant}/ips/${ip}/warmup`, {
    dailyGrowthPercent: 150,
  });
  detail(`a growth of 150%: ${bad.status}, ${bad.body.errors?.map((e) => `${e.field}: ${e.message}`).join("; ")}`);
  for (const i of (await ips()).filter((x) => x.ip === ip))
    detail(`${i.ip} warm-up day ${i.warmup.day} (started over ${i.warmup.restartedOn}), cap today ${i.warmup.maxMessages}`);

  say(`PUT /tenants/${tenant}/settings {"autoEmergencySwitch":true,"switchBelowScore":70}`);
  await env.api("PUT", `/tenants/${tenant}/settings`, { autoEmergencySwitch: true, switchBelowScore: 70 });

  const standby = (await ips()).find((i) => i.role === "standby")?.ip ?? "";
  const dns = await new DnsSim({
    records: () => env.cf.allRecords(),
    ptr: (x) => env.sim.ptr(x),
    blocklists: { "bl.demo.invalid": {}, "refusing.demo.invalid": { unknown: [ip, standby] } },
  }).start();
  const pool = new Pool({ connectionString: env.pg.url, max: 2 });
  const pass = async () => {
    while (!(await monitorOnce(pool, { resolver: dns.address, blocklists: ["bl.demo.invalid", "refusing.demo.invalid"], smtp: false })))
      await new Promise((r) => setTimeout(r, 200));
  };
  const show = async (what: string) => {
    await pass();
    const i = (await ips()).find((x) => x.ip === ip)!;
    const p = i.reputation?.penalties ?? {};
    detail(
      `${what.padEnd(26)} ${ip} score ${i.reputation?.score} (complaints -${p.complaints}, bounces -${p.bounces}, blocklists -${p.blocklists}, warm-up -${p.warmup}); role ${i.role}`,
    );
  };
  try {
    const day = new Date().toISOString().slice(0, 10);
    const report = async (sent: number, bounced: number, complained: number) => {
      say(`POST /usage ${JSON.stringify({ records: [{ tenant, ip, day, sent, bounced, complained }] })}`);
      await env.api("POST", "/usage", { records: [{ tenant, ip, day, sent, bounced, complained }] });
    };
    say("A monitoring pass (one list does not list the IP, one refuses the query: unknown, not listed)");
    await show("before any report");
    await report(30, 0, 0);
    await show("30 sent, no complaints");
    await report(30, 1, 0);
    await show("1 bounce");
    await report(30, 1, 1);
    await show("1 complaint in 30 (3.3%)");
    const sw = (await env.api<{ requests: ServiceRequest[] }>("GET", `/tenants/${tenant}/requests`)).body.requests.find(
      (r) => r.kind === "pause_ip" && r.status !== "assigned",
    );
    if (sw) {
      detail(`the automatic switch asked for pause_ip ${ip} (${sw.id}); waiting for it`);
      const s = await env.settle(sw.id);
      detail(`pause_ip ${s.status}: now sending ${s.result?.nowSending?.join(", ")}`);
    }
    const h = (
      await env.api<{ days: Array<{ day: string; score: number; lowest: number }> }>("GET", `/tenants/${tenant}/ips/${ip}/reputation`)
    ).body.days;
    detail(`GET …/ips/${ip}/reputation: ${h.map((d) => `${d.day} score ${d.score} (lowest ${d.lowest})`).join(", ")}`);
  } finally {
    await pool.end();
    await dns.stop();
  }
}
