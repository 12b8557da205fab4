/**
 * The invariants harness (issue 31): seeded, replayable random sequences of operations on several
 * tenants that share one Hostwinds account and one Cloudflare zone, against the stand-ins, with
 * the money and isolation invariants checked after every step.
 *
 * What runs: the real SecondaryIp and DnsRecord providers, called the way the engine calls them
 * (check of every record before anything happens, as a preview; diff of every slot in state;
 * creates at once; updates; deletes last), each run in a fresh copy of the provider modules (a
 * new provider process), over real HTTP to the stand-ins. State is a checkpoint per tenant kept
 * here. It does not run the Pulumi engine itself (an engine run costs seconds; 500 steps would
 * take hours on this machine): the engine's own paths are covered by test/engine/.
 *
 * Operations (each a generator of a finding of issue 31): up with a new IP count (scale up and
 * down), `--target` one new slot, destroy, refresh, a kill at a random moment (the results of
 * the run's operations after that moment never reach state), two writers on one stack at once
 * (what `pulumi cancel` in a second shell allows), orders Hostwinds holds (and later assigns),
 * orders it refuses, a 503 on a purchase, rate-limit storms on both APIs, and hostile configs:
 * another tenant's zone records (its domain) and another tenant's IP as adoptIp.
 *
 * Invariants, after every step:
 *   purchases     IPs bought and not released on a tenant's server ≤ its desired slots (never more)
 *   one-holder    no IP is held by two slots, of one stack or of two
 *   isolation     nothing of another tenant (its IPs, their rDNS, its DNS records) changed
 *   owner         every record carrying a mark is in its owner's state; one SPF per name
 *   state=account every assigned slot's IP is on its server; every record in state is in the zone as stated
 *   spf           a tenant's SPF lists exactly the IPs its slots hold
 *   no-orphan     every IP on a tenant's server is held by a slot, or answers a slot's pending order
 * The last three are judged only after a run that ended cleanly (no kill, no error): a killed run
 * leaves work for the next, by design.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HostwindsSim, IMAGES } from "./standins/hostwinds";
import { CloudflareSim } from "./standins/cloudflare";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { serverName } from "../../providers/hostwinds/inputs";
import { splitName } from "../../providers/hostwinds/orders";
import type { SecondaryIpInputs } from "../../providers/hostwinds/inputs";
import type { SecondaryIpOutputs } from "../../providers/hostwinds/secondary-ip";
import type { DnsRecordInputs, DnsRecordOutputs } from "../../providers/cloudflare/dns-record";
import { claimOf } from "../../providers/cloudflare/dns-record";
import { mailDomainRecords } from "../../components/mail-records";
import { Orphan, StackState, findOrphans, ownedBy, releasable, releaseOrphans } from "../cli/fleet/orphans";
import { removeStrayRecords } from "../cli/fleet/recover";
import { CloudflareClient } from "../../providers/cloudflare/client";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../providers/hostwinds";
import { fingerprintOf, ownerMark, parseOwnerMark } from "../../providers/model/owner";

const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;
const KEY = "sim-key-invariants-0123456789";
const TOKEN = "cf-invariants-token-0123456789";
const ZONE = "pm-shared.example";
const PROJECT = "penguinmails-infra";
const BACKEND = fingerprintOf("file:///invariants-harness");
/** A second backend on the same account: the third tenant's stack lives there (`fleet orphans` is run from either). */
const BACKEND_B = fingerprintOf("file:///invariants-harness-other");
const MAX_IPS = 4;

/** One provider process: the two providers and the Hostwinds session module (for its leases and timing). */
export interface ProviderProcess {
  ip: {
    configure(req: unknown): Promise<void>;
    create(i: SecondaryIpInputs): Promise<{ id: string; outs: SecondaryIpOutputs }>;
    diff(id: string, olds: SecondaryIpOutputs, news: SecondaryIpInputs): Promise<unknown>;
    read(id: string, props: SecondaryIpOutputs): Promise<{ id: string; props?: SecondaryIpOutputs }>;
    update(id: string, olds: SecondaryIpOutputs, news: SecondaryIpInputs): Promise<{ outs: SecondaryIpOutputs }>;
    delete(id: string, props: SecondaryIpOutputs): Promise<void>;
  };
  dns: {
    configure(req: unknown): Promise<void>;
    check(olds: unknown, news: DnsRecordInputs): Promise<{ failures?: Array<{ reason: string }> }>;
    diff(id: string, olds: DnsRecordOutputs, news: DnsRecordInputs): Promise<{ changes?: boolean; replaces?: string[] }>;
    create(i: DnsRecordInputs): Promise<{ id: string; outs: DnsRecordOutputs }>;
    read(id: string, props: DnsRecordOutputs): Promise<{ id: string; props?: DnsRecordOutputs }>;
    update(id: string, olds: DnsRecordOutputs, news: DnsRecordInputs): Promise<{ outs: DnsRecordOutputs }>;
    delete(id: string, props: DnsRecordOutputs): Promise<void>;
  };
  /** Ends the process: its leases go (what the engine killing it does). */
  end(): void;
  /** Shortens the wait for siblings and the writer lease (a harness step must not wait 35 s). */
  tune(o: { siblingWaitMs: number; leaseWaitMs: number; leaseDir: string }): void;
}

/** A fresh provider process in plain Node: the provider modules loaded anew (the bench's way; jest passes its own). */
export function freshProcess(): ProviderProcess {
  for (const k of Object.keys(require.cache)) if (/[\\/]providers[\\/]/.test(k)) delete require.cache[k];
  return processFrom((m) => require(m));
}

/** Builds a ProviderProcess from a module loader (given absolute paths, so jest's loader and Node's agree). */
export function processFrom(loadAbsolute: (m: string) => unknown): ProviderProcess {
  const load = (m: string) => loadAbsolute(path.join(__dirname, m));
  const ipMod = load("../../providers/hostwinds/secondary-ip") as { provider: ProviderProcess["ip"]; timing: { siblingWaitMs: number } };
  const dnsMod = load("../../providers/cloudflare/dns-record") as { provider: ProviderProcess["dns"] };
  const lease = load("../../providers/lib/lease") as typeof import("../../providers/lib/lease");
  return {
    ip: ipMod.provider,
    dns: dnsMod.provider,
    end: () => lease.useLeases(undefined),
    tune(o) {
      ipMod.timing.siblingWaitMs = o.siblingWaitMs;
      lease.useLeases(new lease.Leases(lease.fileLeaseStore(o.leaseDir), { waitMs: o.leaseWaitMs, pollMs: 50 }));
    },
  };
}

/** mulberry32: a small seeded generator, so a seed replays the same sequence. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Res<O> {
  id: string;
  outs: O;
}
interface Tenant {
  id: string;
  serviceId: number;
  mainIp: string;
  /** Its own sending domain; a hostile step may name another's. */
  domain: string;
  owner: string;
  /** The backend its stack lives in (a fingerprint), and the server's mark its Instance computed (Instance.serverName). */
  backend: string;
  serverMark: string;
  desired: number;
  /** The most slots desired since the account last matched state (IPs bought then may still be outstanding). */
  peak: number;
  slots: Map<string, Res<SecondaryIpOutputs>>;
  records: Map<string, Res<DnsRecordOutputs>>;
}

export interface Violation {
  step: number;
  op: string;
  invariant: string;
  detail: string;
}
export interface HarnessResult {
  seed: number;
  steps: number;
  ops: Record<string, number>;
  invariantsChecked: number;
  violations: Violation[];
  refusals: number;
  errors: number;
  ms: number;
}

export interface HarnessOptions {
  seed: number;
  steps: number;
  tenants?: number;
  fresh: () => ProviderProcess;
  log?: (line: string) => void;
  /** Stop at the first violation (default true: the seed and step are the reproduction). */
  stopAtFirst?: boolean;
  /** Findings mode: put back the old behaviour of one finding of issue 31 (FINDINGS), with its generators only. */
  finding?: Finding;
  /** With `finding`: its generators only, its old behaviour not put back (the control: no violation). */
  control?: boolean;
}

/**
 * The findings of issue 31, each a switch that puts back the behaviour before its fix, as a shim on
 * the harness's side (what the engine, an old provider or an old command did); nothing in the
 * providers or commands reads them. With a switch on, the harness draws only that finding's
 * generators and must find a violation of the named invariant (test/unit/invariants.test.ts).
 */
export const FINDINGS = {
  /** 1. `fleet orphans` takes ownership from resource ids: a settled pending slot keeps its `order-…` id, so its IP looks unowned. */
  "order-id": { invariants: ["orphans"], ops: ["up", "hold", "assign-held", "orphans"] },
  /** 2. Nothing decides who owns a DNS record: a tenant naming another's zone records is not refused in preview. */
  "dns-claims": { invariants: ["owner", "isolation"], ops: ["up", "hostile-zone"] },
  /** 3. The owner mark names no backend: the same stack name on another backend owns the same servers. */
  "mark-no-backend": { invariants: ["orphans"], ops: ["up", "orphans"] },
  /** 4. A foreign service id in state is trusted once the live mark equals state (the old refresh copied the live mark in). */
  "foreign-id": { invariants: ["buy-once", "purchases", "isolation", "no-orphan"], ops: ["up", "foreign-id"] },
  /** 5. No writer lease: two engines on one stack both buy. */
  "no-lease": { invariants: ["buy-once", "purchases", "one-holder", "no-orphan", "owner"], ops: ["up", "two-writers"] },
  /** 6. A timeout settles an order: an order held past ipTimeoutMs is dropped as never sent, and bought again. */
  "timeout-settles": { invariants: ["buy-once", "purchases", "no-orphan"], ops: ["up", "hold", "assign-held"] },
  /** 7. An IP still pending fails the run (`"" is not an IPv4 address`) instead of leaving its A record waiting. */
  "empty-ip": { invariants: ["pending-ok"], ops: ["up", "hold"] },
  /** 8. `--target` of a new slot takes an IP it cannot tell from an unheard sibling's when no rDNS is reported. */
  "target-double": { invariants: ["one-holder"], ops: ["up", "target"] },
  /** The open bug after the fixes: `fleet orphans` from another backend on the account takes every server of this one for unowned. */
  "orphans-any-backend": { invariants: ["orphans"], ops: ["up", "orphans"] },
} as const satisfies Record<string, { invariants: readonly string[]; ops: readonly Op["kind"][] }>;
export type Finding = keyof typeof FINDINGS;

type Op =
  | { kind: "up"; tenant: number; ips: number }
  | { kind: "target"; tenant: number; rdns: boolean }
  | { kind: "destroy"; tenant: number }
  | { kind: "refresh"; tenant: number }
  | { kind: "kill"; tenant: number; ips: number; after: number }
  | { kind: "two-writers"; tenant: number; ips: number }
  | { kind: "hold"; tenant: number; ips: number }
  | { kind: "assign-held" }
  | { kind: "refuse-order"; tenant: number; ips: number }
  | { kind: "503"; tenant: number; ips: number }
  | { kind: "storm"; tenant: number; ips: number }
  | { kind: "hostile-zone"; tenant: number; victim: number }
  | { kind: "hostile-adopt"; tenant: number; victim: number }
  | { kind: "foreign-id"; tenant: number; victim: number }
  | { kind: "orphans"; from: number };

function pick(r: () => number, n: number): number {
  return Math.floor(r() * n);
}

/** The next operation; in findings mode one of the finding's generators, each as likely as the others. */
function nextOp(r: () => number, tenants: number, only?: readonly string[]): Op {
  if (!only) return anyOp(r, tenants);
  const kind = only[pick(r, only.length)];
  for (;;) {
    const op = anyOp(r, tenants);
    if (op.kind === kind) return op;
  }
}

function anyOp(r: () => number, tenants: number): Op {
  const t = pick(r, tenants);
  const ips = pick(r, MAX_IPS + 1);
  const other = (t + 1 + pick(r, tenants - 1)) % tenants;
  const x = r();
  if (x < 0.25) return { kind: "up", tenant: t, ips };
  if (x < 0.33) return { kind: "target", tenant: t, rdns: r() < 0.5 };
  if (x < 0.38) return { kind: "destroy", tenant: t };
  if (x < 0.43) return { kind: "refresh", tenant: t };
  if (x < 0.53) return { kind: "kill", tenant: t, ips, after: pick(r, 6) };
  if (x < 0.6) return { kind: "two-writers", tenant: t, ips };
  if (x < 0.67) return { kind: "hold", tenant: t, ips };
  if (x < 0.72) return { kind: "assign-held" };
  if (x < 0.77) return { kind: "refuse-order", tenant: t, ips };
  if (x < 0.82) return { kind: "503", tenant: t, ips };
  if (x < 0.89) return { kind: "storm", tenant: t, ips };
  if (x < 0.93) return { kind: "hostile-zone", tenant: t, victim: other };
  if (x < 0.955) return { kind: "hostile-adopt", tenant: t, victim: other };
  if (x < 0.97) return { kind: "foreign-id", tenant: t, victim: other };
  return { kind: "orphans", from: pick(r, 2) };
}
const describeOp = (op: Op) =>
  Object.entries(op)
    .map(([k, v]) => (k === "kind" ? v : `${k}=${v}`))
    .join(" ");

/** Runs the harness; never throws for a violation (they are in the result). */
// eslint-disable-next-line max-lines-per-function -- the harness's closures share one world (stand-ins, tenants, snapshots); split would thread it everywhere
export async function runInvariants(o: HarnessOptions): Promise<HarnessResult> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const logLine = log;
  const r = rng(o.seed);
  const leaseDir = fs.mkdtempSync(path.join(os.tmpdir(), "pm-invariants-"));
  const hw = await new HostwindsSim({ apiKeys: [KEY], buildMs: 20, ipDelayMs: 30 }).start();
  const cf = await new CloudflareSim({ tokens: { [TOKEN]: [ZONE] } }).start();
  cf.addZone(ZONE);
  const env = { CLOUDFLARE_BUDGET: process.env.CLOUDFLARE_BUDGET, HOSTWINDS_BUDGET: process.env.HOSTWINDS_BUDGET };
  process.env.CLOUDFLARE_BUDGET = "off";
  process.env.HOSTWINDS_BUDGET = "off";
  const client = new HostwindsClient({ apiKey: KEY, apiUrl: hw.url, requestsPerSecond: 0 });
  const config: Record<string, string> = {
    "hostwinds:apiUrl": hw.url,
    "hostwinds:apiKey": KEY,
    "hostwinds:pollIntervalMs": "30",
    "hostwinds:requestsPerSecond": "0",
    "hostwinds:ipTimeoutMs": "600",
    "cloudflare:apiToken": TOKEN,
    "cloudflare:baseUrl": cf.url,
  };
  const finding = o.control ? undefined : o.finding;
  const only = o.finding ? FINDINGS[o.finding].ops : undefined;
  // Finding 3: marks made without the backend (every backend's stack of one name marks alike).
  const markBackend = (b: string) => (finding === "mark-no-backend" ? "" : b);
  const result: HarnessResult = { seed: o.seed, steps: 0, ops: {}, invariantsChecked: 0, violations: [], refusals: 0, errors: 0, ms: 0 };
  const live: ProviderProcess[] = [];
  const proc = (): ProviderProcess => {
    const p = o.fresh();
    // Finding 5: no writer lease (each process its own, so nobody ever waits for another writer).
    const dir = finding === "no-lease" ? fs.mkdtempSync(path.join(leaseDir, "p-")) : leaseDir;
    p.tune({ siblingWaitMs: 300, leaseWaitMs: 200, leaseDir: dir });
    void p.ip.configure({ config: { get: (k: string) => config[k] } });
    void p.dns.configure({ config: { get: (k: string) => config[k] } });
    live.push(p);
    return p;
  };

  try {
    const names = ["acme", "globex", "initech", "umbrella", "hooli"].slice(0, o.tenants ?? 3);
    const tenants: Tenant[] = [];
    for (const id of names) {
      // The third tenant's stack is in another backend on the same account.
      const backend = tenants.length === 2 ? BACKEND_B : BACKEND;
      const name = serverName({ tenant: id, server: "mx1", stack: id, backend: markBackend(backend), project: PROJECT });
      await client.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name });
      const s = await client.waitFor("server", async () => (await client.listInstances()).find((i) => i.srvrname === name && i.main_ip));
      tenants.push({
        id,
        serviceId: s.serviceid,
        mainIp: s.main_ip!,
        domain: `${id}.${ZONE}`,
        owner: ownerMark({ backend, project: PROJECT, stack: id, tenant: id }),
        backend,
        serverMark: name,
        desired: 0,
        peak: 0,
        slots: new Map(),
        records: new Map(),
      });
    }

    const slotName = (k: number) => `mx1-ip${k}`;
    const slotInputs = (t: Tenant, k: number, n: number, adoptIp?: string): SecondaryIpInputs => ({
      tenant: t.id,
      stack: t.id,
      serverMark: t.serverMark,
      slot: slotName(k),
      siblings: Array.from({ length: n }, (_, i) => slotName(i + 1)),
      serviceId: t.serviceId,
      rdns: `ip${k}.mx1.${t.domain}`,
      retire: [],
      ...(adoptIp ? { adoptIp } : {}),
    });
    const recordsFor = (t: Tenant, domain: string, slotOuts: SecondaryIpOutputs[], applying = false): DnsRecordInputs[] => {
      // Finding 7: the records of a slot whose order is still pending failed the run (the old check of every host's address).
      if (finding === "empty-ip" && applying && slotOuts.some((x) => x.ip === ""))
        throw new Error(
          `records for ${domain}: host mx1-ip${slotOuts.findIndex((x) => x.ip === "") + 1}.${domain}: "" is not an IPv4 address`,
        );
      const recs = mailDomainRecords({
        domain,
        mailHost: `mx1.${domain}`,
        hosts: [
          { hostname: `mx1.${domain}`, ip: t.mainIp },
          ...slotOuts.map((s, i) => ({ hostname: `mx1-ip${i + 1}.${domain}`, ip: s.ip })),
        ],
        sendingIps: slotOuts.map((s) => s.ip).filter((ip) => ip !== ""),
        dkim: { selector: "pm1", publicKeyBase64: "AA==" },
        dmarcPolicy: "none",
      });
      return recs.map((x) => ({
        zone: ZONE,
        type: x.type,
        name: x.name,
        content: x.content,
        ttl: x.ttl,
        proxied: false,
        priority: x.priority,
        data: x.data as unknown as Record<string, unknown> | undefined,
        owner: t.owner,
        claim: claimOf(x.type, x.content),
      }));
    };
    const recKey = (i: DnsRecordInputs) => `${i.type.toLowerCase()}-${i.name}`;

    /** One engine run of `up` (or `--target` of one slot); `stopAfter`: the kill moment (operations whose results reach state). */
    // eslint-disable-next-line max-lines-per-function -- one engine run with its kill moment and every result check; the checks read in run order
    async function up(
      t: Tenant,
      p: ProviderProcess,
      o2: { ips: number; domain?: string; target?: number; stopAfter?: number; adoptIp?: string },
    ): Promise<{ refused?: string; errors: number; killed: boolean; messages: string[] }> {
      const domain = o2.domain ?? t.domain;
      const messages: string[] = [];
      const log = (line: string) => {
        messages.push(line);
        logLine(line);
      };
      let saved = 0;
      const save = () => o2.stopAfter === undefined || saved++ < o2.stopAfter;
      let errors = 0;
      // Preview: every record is checked before anything happens (the refusal belongs here).
      const previewSlots = Array.from(
        { length: o2.ips },
        (_, i) => t.slots.get(slotName(i + 1))?.outs ?? ({ ip: "" } as SecondaryIpOutputs),
      );
      for (const rec of recordsFor(t, domain, previewSlots)) {
        const old = t.records.get(recKey(rec))?.outs;
        const c = await p.dns.check(old ?? {}, rec);
        // Finding 2: nobody decided who owns a record (no claim was refused).
        const failures = (c.failures ?? []).filter((x) => !(finding === "dns-claims" && (x as { property?: string }).property === "name"));
        if (failures.length) return { refused: failures[0].reason, errors: 0, killed: false, messages };
      }
      // Diff of every slot in state (a --target run diffs only its target).
      for (const [k, s] of t.slots) {
        if (o2.target !== undefined && k !== slotName(o2.target)) continue;
        await p.ip.diff(s.id, s.outs, slotInputs(t, Number(k.slice(6)), o2.ips));
      }
      // Creates at once, updates of pending slots.
      const jobs: Array<Promise<void>> = [];
      for (let k = 1; k <= o2.ips; k++) {
        if (o2.target !== undefined && k !== o2.target) continue;
        const key = slotName(k);
        const cur = t.slots.get(key);
        const all = slotInputs(t, k, o2.ips, k === 1 ? o2.adoptIp : undefined);
        // Finding 8: a --target slot knew nothing of siblings it had not heard, and took an IP it could not tell from theirs.
        const inputs = finding === "target-double" && o2.target !== undefined ? { ...all, siblings: [] } : all;
        if (!cur)
          jobs.push(
            p.ip.create(inputs).then(
              (res) => void (save() && t.slots.set(key, res)),
              (e: unknown) => void (errors++, log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`)),
            ),
          );
        else if (cur.outs.status === "purchasing")
          jobs.push(
            p.ip.update(cur.id, cur.outs, inputs).then(
              (res) => void (save() && t.slots.set(key, { id: cur.id, outs: res.outs })),
              (e: unknown) => void (errors++, log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`)),
            ),
          );
      }
      await Promise.all(jobs);
      // DNS after the IPs (records read their addresses); a --target run touches no records.
      if (o2.target === undefined) {
        const outs = Array.from({ length: o2.ips }, (_, i) => t.slots.get(slotName(i + 1))?.outs).filter(
          (x): x is SecondaryIpOutputs => x !== undefined,
        );
        const want = recordsFor(t, domain, outs, true);
        const wanted = new Set(want.map(recKey));
        for (const rec of want) {
          const key = recKey(rec);
          const cur = t.records.get(key);
          try {
            if (!cur) {
              const res = await p.dns.create(rec);
              if (save()) t.records.set(key, res);
            } else if ((await p.dns.diff(cur.id, cur.outs, rec)).changes) {
              const res = await p.dns.update(cur.id, cur.outs, rec);
              if (save()) t.records.set(key, { id: cur.id, outs: res.outs });
            }
          } catch (e) {
            errors++;
            log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`);
          }
        }
        // Deletes last: records no longer wanted, then slots beyond the count.
        for (const [key, cur] of [...t.records]) {
          if (wanted.has(key)) continue;
          try {
            await p.dns.delete(cur.id, cur.outs);
            if (save()) t.records.delete(key);
          } catch (e) {
            errors++;
            log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`);
          }
        }
        for (const [key, cur] of [...t.slots]) {
          if (Number(key.slice(6)) <= o2.ips) continue;
          try {
            await p.ip.delete(cur.id, cur.outs);
            if (save()) t.slots.delete(key);
          } catch (e) {
            errors++;
            log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`);
          }
        }
      }
      return { errors, killed: o2.stopAfter !== undefined && saved > o2.stopAfter, messages };
    }

    async function destroy(t: Tenant, p: ProviderProcess): Promise<number> {
      let errors = 0;
      for (const [key, cur] of [...t.records]) {
        try {
          await p.dns.delete(cur.id, cur.outs);
          t.records.delete(key);
        } catch (e) {
          errors++;
          log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`);
        }
      }
      for (const [key, cur] of [...t.slots]) {
        try {
          await p.ip.delete(cur.id, cur.outs);
          t.slots.delete(key);
        } catch (e) {
          errors++; // a pending order cannot be released until it arrives: it stays in state
          log(`  error: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`);
        }
      }
      return errors;
    }

    async function refresh(t: Tenant, p: ProviderProcess): Promise<void> {
      for (const [key, cur] of [...t.slots]) {
        const res = await p.ip.read(cur.id, cur.outs);
        if (!res.id) t.slots.delete(key);
        else if (res.props) t.slots.set(key, { id: res.id, outs: res.props });
      }
      for (const [key, cur] of [...t.records]) {
        const res = await p.dns.read(cur.id, cur.outs);
        if (!res.id) t.records.delete(key);
        else if (res.props) t.records.set(key, { id: res.id, outs: res.props });
      }
    }

    /**
     * What `fleet orphans --release --yes` would release, run from backend `view` (two scans, no grace
     * or minimum age here): every stack of that backend, and an empty stack there named like a tenant's
     * stack on the other backend.
     */
    async function releasableFrom(view: string): Promise<Orphan[]> {
      const twin = tenants.find((t) => t.backend !== view)!;
      const states: StackState[] = tenants
        .filter((t) => t.backend === view)
        .map((t) => ({
          stack: t.id,
          pending: [],
          resources: [
            {
              type: INSTANCE_TYPE,
              id: String(t.serviceId),
              outputs: { serviceId: t.serviceId, serverName: t.serverMark },
            },
            ...[...t.slots.values()].map((x) => ({
              type: SECONDARY_IP_TYPE,
              id: x.id,
              // Finding 1: ownership from the resource id's shape (an `order-…` id owned nothing).
              outputs: (finding === "order-id" && x.id.startsWith("order-") ? { ...x.outs, ip: undefined } : x.outs) as unknown as Record<
                string,
                unknown
              >,
            })),
          ],
        }))
        .concat([{ stack: twin.id, pending: [], resources: [] }]);
      const ownerSet = () => {
        const owned = ownedBy(states, { backend: markBackend(view), project: PROJECT });
        // The open bug: every mark of ours taken for this backend's.
        if (finding === "orphans-any-backend") owned.stackTags = { has: () => true } as unknown as Set<string>;
        return owned;
      };
      const rules = { minAgeMs: 0, now: Date.now() + 86_400_000 };
      const first = await findOrphans(client, ownerSet(), 4.99, rules);
      const second = await findOrphans(client, ownerSet(), 4.99, rules);
      return releasable(first, second).filter((x) => tenants.some((t) => t.serviceId === x.serviceId));
    }

    // ---- invariants -------------------------------------------------------------------
    interface Snapshot {
      ips: Map<number, Map<string, string | undefined>>;
      records: Map<string, string>;
      /** IPs ever bought on each server, and each tenant's slots in state. */
      orders: Map<number, number>;
      slots: Map<string, Set<string>>;
    }
    const everBought = (serviceId: number) =>
      hw.ledger(KEY).filter((e) => e.kind === "ip" && e.serviceId === serviceId && e.event === "bought").length;
    const snapshot = async (): Promise<Snapshot> => {
      const ips = new Map<number, Map<string, string | undefined>>();
      for (const t of tenants) ips.set(t.serviceId, new Map((await client.listIps(t.serviceId)).map((i) => [i.ip, i.rdns])));
      return {
        ips,
        records: new Map(cf.records(ZONE).map((x) => [x.id, JSON.stringify([x.type, x.name, x.content, x.comment])])),
        orders: new Map(tenants.map((t) => [t.serviceId, everBought(t.serviceId)])),
        slots: new Map(tenants.map((t) => [t.id, new Set(t.slots.keys())])),
      };
    };
    /** How many IPs a step may buy for a tenant: one per slot it runs that had none in state before (never one more, even for a moment). */
    const mayBuy = (t: Tenant, op: Op, actor: Tenant | undefined, had: Set<string>): number => {
      if (actor !== t) return 0;
      if (op.kind === "target") return 1;
      const n = "ips" in op ? op.ips : op.kind === "hostile-zone" ? had.size : 0;
      return Array.from({ length: n }, (_, i) => slotName(i + 1)).filter((k) => !had.has(k)).length;
    };
    const bought = (t: Tenant) => {
      const l = hw.ledger(KEY).filter((e) => e.kind === "ip" && e.serviceId === t.serviceId);
      return l.filter((e) => e.event === "bought").length - l.filter((e) => e.event === "released").length;
    };

    // eslint-disable-next-line max-lines-per-function -- the list of invariants checked after each step, one after another; a list reads best as one
    async function check(step: number, op: Op, actor: Tenant | undefined, before: Snapshot, clean: Set<string>): Promise<void> {
      const fail = (invariant: string, detail: string) => {
        result.violations.push({ step, op: describeOp(op), invariant, detail });
        log(`VIOLATION step ${step} (${describeOp(op)}): ${invariant}: ${detail}`);
      };
      const judge = (invariant: string, ok: boolean, detail: () => string) => {
        result.invariantsChecked++;
        if (!ok) fail(invariant, detail());
      };
      const after = await snapshot();
      const zone = cf.records(ZONE);
      const holders = new Map<string, string>();
      for (const t of tenants) {
        const held = [...t.slots.values()];
        t.peak = Math.max(t.peak, t.desired);
        // Slots beyond the count that could not be released yet (a pending order cannot be cancelled) count too.
        const leaving = held.filter((x) => Number(String(x.outs.slot).slice(6)) > t.desired).length;
        judge(
          "purchases",
          bought(t) <= Math.max(t.peak, held.length, t.desired + leaving),
          () => `${t.id}: ${bought(t)} IPs bought and kept for at most ${t.peak} slots desired since the account last matched state`,
        );
        if (bought(t) <= held.length) t.peak = t.desired;
        const boughtNow = everBought(t.serviceId) - before.orders.get(t.serviceId)!;
        const allowed = mayBuy(t, op, actor, before.slots.get(t.id)!);
        judge(
          "buy-once",
          boughtNow <= allowed,
          () => `${t.id}: ${boughtNow} IP(s) bought in one step for ${allowed} slot(s) without an IP or order`,
        );
        for (const s of held)
          if (s.outs.ip) {
            const k = `${t.id}/${s.outs.slot}`;
            judge("one-holder", !holders.has(s.outs.ip), () => `${s.outs.ip} held by ${holders.get(s.outs.ip)} and ${k}`);
            holders.set(s.outs.ip, k);
          }
        // Isolation: another tenant's operation changed nothing of this tenant's.
        if (actor && actor !== t) {
          const was = before.ips.get(t.serviceId)!;
          const now = after.ips.get(t.serviceId)!;
          for (const [ip, rdns] of was)
            judge(
              "isolation",
              now.has(ip) && now.get(ip) === rdns,
              () => `${actor.id}'s step changed ${t.id}'s IP ${ip} (rDNS ${rdns} → ${now.get(ip)})`,
            );
          for (const [id, text] of before.records) {
            const owner = parseOwnerMark(JSON.parse(text)[3]);
            if (owner?.tenant !== t.id) continue;
            judge(
              "isolation",
              after.records.get(id) === text,
              () => `${actor.id}'s step changed ${t.id}'s record ${text} → ${after.records.get(id) ?? "deleted"}`,
            );
          }
        }
        if (!clean.has(t.id)) continue;
        const onServer = [...after.ips.get(t.serviceId)!.keys()].filter((ip) => ip !== t.mainIp);
        const slotIps = held.map((s) => s.outs.ip).filter(Boolean);
        judge(
          "state=account",
          slotIps.every((ip) => onServer.includes(ip)),
          () => `${t.id}: slots hold ${slotIps} but the server has ${onServer}`,
        );
        for (const [, rec] of t.records) {
          if (!rec.outs.recordId) continue;
          const z = zone.find((x) => x.id === rec.outs.recordId);
          judge(
            "state=account",
            !!z && (rec.outs.type === "SRV" || z.content === rec.outs.content),
            () =>
              `${t.id}: record ${rec.outs.type} ${rec.outs.name} is ${z ? `"${z.content}"` : "gone"} in the zone, "${rec.outs.content}" in state`,
          );
        }
        const spf = zone.find((x) => x.name === t.domain && x.content.startsWith("v=spf1") && x.comment === t.owner);
        if (held.length || t.records.size) {
          const listed = (spf?.content.match(/ip4:(\S+)/g) ?? []).map((x) => x.slice(4)).sort();
          judge(
            "spf",
            JSON.stringify(listed) === JSON.stringify([...slotIps].sort()),
            () => `${t.id}: SPF lists ${listed}, slots hold ${slotIps}`,
          );
        }
        const pending = held.filter((s) => s.outs.status === "purchasing").length;
        const journal = splitName((await client.getInstance(t.serviceId))!.srvrname).orders.length;
        const unheld = onServer.filter((ip) => !slotIps.includes(ip));
        let noOrphan = unheld.length <= Math.max(pending, journal);
        // A stack that desires no IP runs no slot, so IPs a killed run bought stay until `fleet orphans`
        // (nightly) releases them: they must be orphans it would release.
        if (!noOrphan && t.desired === 0 && !pending) {
          const go = await releasableFrom(t.backend);
          noOrphan = unheld.every((ip) => go.some((x) => x.kind === "ip" && x.ip === ip));
        }
        judge("no-orphan", noOrphan, () => `${t.id}: IPs ${unheld} on its server are held by no slot (${pending} pending slot(s))`);
      }
      // Owners: every marked record is in its owner's state; one SPF per name.
      for (const z of zone) {
        const owner = parseOwnerMark(z.comment);
        const t = tenants.find((x) => x.id === owner?.tenant);
        if (!t || !clean.has(t.id)) continue;
        judge(
          "owner",
          [...t.records.values()].some((x) => x.outs.recordId === z.id),
          () => `record ${z.type} ${z.name} marked ${t.id} is not in ${t.id}'s state`,
        );
      }
      const spfNames = zone.filter((z) => z.content.startsWith("v=spf1")).map((z) => z.name);
      judge("owner", new Set(spfNames).size === spfNames.length, () => `two SPF records at one name: ${spfNames}`);
    }

    // ---- the run --------------------------------------------------------------------
    const clean = new Set<string>();
    for (let step = 1; step <= o.steps; step++) {
      const op = nextOp(r, tenants.length, only);
      result.ops[op.kind] = (result.ops[op.kind] ?? 0) + 1;
      const actor = "tenant" in op ? tenants[op.tenant] : undefined;
      const before = await snapshot();
      hw.faults = {};
      cf.faults = {};
      hw.onRequest = undefined;
      let outcome = "";
      const p = proc();
      try {
        switch (op.kind) {
          case "up":
          case "hold":
          case "refuse-order":
          case "503":
          case "storm": {
            const t = actor!;
            if (op.kind === "hold") hw.setTiming({ ipDelayMs: 3_600_000 });
            if (op.kind === "refuse-order") hw.faults.purchaseCooldownMs = 3_600_000;
            if (op.kind === "storm") {
              hw.faults.http429 = 2 + pick(r, 3);
              cf.faults.http429 = 2 + pick(r, 3);
            }
            if (op.kind === "503") {
              let once = false;
              hw.onRequest = (a) => {
                if (a === "edit_instance" && !once) once = Boolean((hw.faults.http5xx = 1));
              };
            }
            t.desired = op.ips;
            const res = await up(t, p, { ips: op.ips }).catch((e: unknown) => ({
              errors: 1,
              refused: undefined,
              killed: false,
              messages: [`  error: ${e instanceof Error ? e.message : e}`],
            }));
            if (op.kind === "refuse-order") hw.faults.purchaseCooldownMs = 0;
            if (op.kind === "hold") {
              // The documented path: an order still held at the timeout leaves its slot pending and the run
              // succeeds (its A record waits). Errors left: a pending order that cannot be released yet, and
              // the journal's limit of three open orders per server (nothing more is ordered until one arrives).
              const expected = ["no public action cancels an order", "IP orders are already open on it"];
              const unexpected = res.messages.filter((m) => m.includes("error:") && !expected.some((x) => m.includes(x)));
              result.invariantsChecked++;
              if (unexpected.length) {
                result.violations.push({ step, op: describeOp(op), invariant: "pending-ok", detail: `${t.id}: ${unexpected[0].trim()}` });
                log(`VIOLATION step ${step} (${describeOp(op)}): pending-ok: ${unexpected[0].trim()}`);
              }
              // Finding 6: the old provider settled an order by its timeout (dropped as never sent, journal entry gone).
              if (finding === "timeout-settles")
                for (const [key, x] of [...t.slots])
                  if (x.outs.status === "purchasing") {
                    t.slots.delete(key);
                    await client.renameInstance(t.serviceId, t.serverMark);
                  }
            }
            result.errors += res.errors;
            outcome = res.refused ? `refused: ${res.refused}` : `${res.errors} error(s)`;
            if (res.refused) result.refusals++;
            if (res.errors || res.refused) clean.delete(t.id);
            else clean.add(t.id);
            if (op.kind === "hold") hw.setTiming({ ipDelayMs: 30 });
            break;
          }
          case "target": {
            const t = actor!;
            const k = Math.min(MAX_IPS, t.slots.size + 1);
            if (t.slots.has(`mx1-ip${k}`)) {
              outcome = "no new slot to target";
              break;
            }
            t.desired = Math.max(t.desired, k);
            // Whether get_instance_ips reports rDNS (no source says it does): without it, IPs cannot be told apart by it.
            hw.setWire({ rdnsInIpList: op.rdns });
            const res = await up(t, p, { ips: k, target: k }).finally(() => hw.setWire({ rdnsInIpList: true }));
            result.errors += res.errors;
            outcome = `${res.errors} error(s)`;
            clean.delete(t.id); // its DNS waits for the next full up
            break;
          }
          case "kill": {
            const t = actor!;
            t.desired = Math.max(t.desired, op.ips);
            const res = await up(t, p, { ips: op.ips, stopAfter: op.after });
            outcome = res.killed ? `killed after ${op.after} saved operation(s)` : "finished before the kill";
            clean.delete(t.id);
            // The documented recovery (`fleet recover`): refresh, and records the dead run made and never saved go.
            for (const x of live.splice(0)) x.end();
            await refresh(t, proc());
            await removeStrayRecords(
              new CloudflareClient({ apiToken: TOKEN, baseUrl: cf.url, budget: null }),
              [...t.records.values()]
                .map((x) => ({ zoneId: x.outs.zoneId, recordId: x.outs.recordId, owner: t.owner }))
                .concat([{ zoneId: cf.zoneIdOf(ZONE), recordId: "", owner: t.owner }]),
            );
            // The next full up settles it; desired is the larger until then (what may have been bought).
            break;
          }
          case "two-writers": {
            const t = actor!;
            t.desired = op.ips;
            const second = proc();
            // A slow API (Hostwinds answers in seconds): both writers read the account before either writes to it.
            hw.faults.slowMs = 100;
            const [a, b] = await Promise.all([up(t, p, { ips: op.ips }), up(t, second, { ips: op.ips })]);
            result.errors += a.errors + b.errors;
            outcome = `${a.errors} + ${b.errors} error(s) (the second writer is refused at its first purchase)`;
            clean.delete(t.id);
            break;
          }
          case "assign-held":
            hw.fulfilHeldOrders(KEY);
            outcome = "Hostwinds assigned every held order";
            for (const t of tenants) clean.delete(t.id);
            break;
          case "destroy": {
            const t = actor!;
            const errs = await destroy(t, p);
            t.desired = [...t.slots.values()].length;
            result.errors += errs;
            outcome = `${errs} error(s)`;
            if (errs) clean.delete(t.id);
            else clean.add(t.id);
            break;
          }
          case "refresh":
            await refresh(actor!, p);
            outcome = "refreshed";
            break;
          case "hostile-zone": {
            const t = actor!;
            const victim = tenants[op.victim];
            const res = await up(t, p, { ips: t.slots.size, domain: victim.domain });
            outcome = res.refused ? "refused in preview" : `NOT refused (${res.errors} errors)`;
            if (res.refused) result.refusals++;
            else {
              // Not refused: only right when the victim holds no records there (first come, first served).
              clean.delete(t.id);
              result.invariantsChecked++;
              if (victim.records.size)
                result.violations.push({
                  step,
                  op: describeOp(op),
                  invariant: "owner",
                  detail: `${t.id} was not refused ${victim.id}'s zone records`,
                });
            }
            break;
          }
          case "orphans": {
            // `fleet orphans --release --yes` from one backend (two scans, no grace here): every stack of
            // that backend, and an empty stack there named like a tenant's stack on the other backend.
            const go = await releasableFrom([BACKEND, BACKEND_B][op.from]);
            const live = new Set(tenants.flatMap((t) => [...t.slots.values()].map((x) => x.outs.ip)).filter(Boolean));
            for (const x of go) {
              result.invariantsChecked++;
              if (x.kind === "server" || (x.ip && live.has(x.ip)))
                result.violations.push({
                  step,
                  op: describeOp(op),
                  invariant: "orphans",
                  detail: `would release ${x.kind} ${x.ip ?? x.server}, held by a live stack`,
                });
            }
            await releaseOrphans(
              client,
              go.filter((x) => x.kind === "ip" && !live.has(x.ip!)),
              () => undefined,
            );
            outcome = `released ${go.length} orphan IP(s)`;
            break;
          }
          case "foreign-id": {
            // The stack's Instance imported with another tenant's server id (a mistyped import id), then
            // an up of one new slot. Its state keeps its own mark (the Instance's refresh refuses a
            // foreign one), so the slot is refused; finding 4: the old refresh copied the live mark in.
            const t = actor!;
            const victim = tenants[op.victim];
            const live = splitName((await client.getInstance(victim.serviceId))!.srvrname).mark;
            const ghost: Tenant = {
              ...t,
              serviceId: victim.serviceId,
              serverMark: finding === "foreign-id" ? live : t.serverMark,
              slots: new Map(),
              records: new Map(),
            };
            const res = await up(ghost, p, { ips: 1, target: 1 });
            outcome = res.errors ? "refused" : "NOT refused";
            if (res.errors) result.refusals++;
            break;
          }
          case "hostile-adopt": {
            const t = actor!;
            const victim = tenants[op.victim];
            const theirs = [...victim.slots.values()].find((s) => s.outs.ip)?.outs.ip;
            if (!theirs || t.slots.has("mx1-ip1")) {
              outcome = "nothing to adopt";
              break;
            }
            const res = await up(t, p, { ips: 1, target: 1, adoptIp: theirs });
            outcome = res.errors ? "refused" : "NOT refused";
            if (res.errors) result.refusals++;
            break;
          }
        }
      } catch (e) {
        result.errors++;
        outcome = `error: ${e instanceof Error ? e.message.slice(0, 160) : e}`;
        if (actor) clean.delete(actor.id);
      } finally {
        for (const x of live.splice(0)) x.end();
      }
      hw.faults = {};
      cf.faults = {};
      hw.onRequest = undefined;
      await check(step, op, actor, before, clean);
      result.steps = step;
      log(`step ${step}: ${describeOp(op)} → ${outcome}`);
      if (result.violations.length && o.stopAtFirst !== false) break;
    }
  } finally {
    for (const x of live.splice(0)) x.end();
    await hw.stop();
    await cf.stop();
    fs.rmSync(leaseDir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  result.ms = Date.now() - started;
  return result;
}

export function printInvariants(rs: HarnessResult[]): boolean {
  const steps = rs.reduce((n, x) => n + x.steps, 0);
  const checked = rs.reduce((n, x) => n + x.invariantsChecked, 0);
  const violations = rs.flatMap((x) => x.violations.map((v) => ({ ...v, seed: x.seed })));
  const ops: Record<string, number> = {};
  for (const x of rs) for (const [k, v] of Object.entries(x.ops)) ops[k] = (ops[k] ?? 0) + v;
  console.log("\ninvariants harness (3 tenants, one Hostwinds account, one Cloudflare zone)");
  console.log(`  seeds ${rs.map((x) => x.seed).join(", ")}`);
  console.log(`  steps ${steps}, invariants checked ${checked}, violations ${violations.length}`);
  console.log(
    `  refusals ${rs.reduce((n, x) => n + x.refusals, 0)}, provider errors ${rs.reduce((n, x) => n + x.errors, 0)}, ${Math.round(rs.reduce((n, x) => n + x.ms, 0) / 1000)} s`,
  );
  console.log(
    `  operations: ${Object.entries(ops)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  for (const v of violations)
    console.log(
      `  VIOLATION seed ${v.seed} step ${v.step} (${v.op}) ${v.invariant}: ${v.detail}\n    replay: npm run bench -- --only invariants --seed ${v.seed} --steps ${v.step}`,
    );
  return violations.length === 0;
}

/** The seed and most steps each finding's switch is run with (npm test and `--findings yes`): the first violation ends the run. */
export const FINDING_RUNS: Record<Finding, { seed: number; steps: number }> = {
  "order-id": { seed: 2, steps: 20 },
  "dns-claims": { seed: 2, steps: 20 },
  "mark-no-backend": { seed: 1, steps: 10 },
  "foreign-id": { seed: 1, steps: 10 },
  "no-lease": { seed: 1, steps: 10 },
  "timeout-settles": { seed: 1, steps: 10 },
  "empty-ip": { seed: 1, steps: 10 },
  "target-double": { seed: 1, steps: 10 },
  "orphans-any-backend": { seed: 1, steps: 10 },
};

export interface FindingRun {
  finding: Finding;
  seed: number;
  /** The first violation of one of the finding's invariants, if found. */
  found?: Violation;
  /** Violations of other invariants on the way (a switch may break more than its own). */
  others: Violation[];
  /** The same operations with the switch off: none expected. */
  control: Violation[];
  steps: number;
  ms: number;
}

/** Findings mode: each switch on in turn; each must find a violation of its named invariant. */
export async function runFindings(
  fresh: () => ProviderProcess,
  names: Finding[] = Object.keys(FINDINGS) as Finding[],
  log?: (line: string) => void,
): Promise<FindingRun[]> {
  const out: FindingRun[] = [];
  for (const finding of names) {
    const { seed, steps } = FINDING_RUNS[finding];
    const r = await runInvariants({ seed, steps, fresh, finding, log: log && ((l) => log(`${finding}: ${l}`)) });
    const named: readonly string[] = FINDINGS[finding].invariants;
    const control = await runInvariants({
      seed,
      steps: r.steps,
      fresh,
      finding,
      control: true,
      log: log && ((l) => log(`${finding} (off): ${l}`)),
    });
    out.push({
      finding,
      seed,
      found: r.violations.find((v) => named.includes(v.invariant)),
      others: r.violations.filter((v) => !named.includes(v.invariant)),
      control: control.violations,
      steps: r.steps,
      ms: r.ms,
    });
  }
  return out;
}

export function printFindings(rs: FindingRun[]): boolean {
  console.log("\ninvariants harness, findings mode (each finding of issue 31 put back by its switch)");
  for (const x of rs)
    console.log(
      `  ${x.finding.padEnd(20)} seed ${x.seed}: ${x.found ? `${x.found.invariant} violated at step ${x.found.step} (${x.found.op}): ${x.found.detail}` : `NOT FOUND in ${x.steps} steps`}` +
        `${x.others.length ? `; also ${x.others.map((v) => v.invariant).join(", ")}` : ""}; switch off, the same steps: ` +
        `${x.control.length ? `${x.control.length} VIOLATION(S): ${x.control[0].invariant} at step ${x.control[0].step}: ${x.control[0].detail}` : "0 violations"} (${(x.ms / 1000).toFixed(1)} s)`,
    );
  return rs.every((x) => x.found && !x.control.length);
}
