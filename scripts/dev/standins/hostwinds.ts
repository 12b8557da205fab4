/**
 * A local stand-in for the Hostwinds Cloud API: the specification of what this
 * project assumes about Hostwinds (../shared/reference/hostwinds-api.md).
 * It answers like the real API: form-encoded POSTs to /cloud/api.php, HTTP 200
 * with error bodies, asynchronous provisioning (BUILD without an IP, then
 * ACTIVE), add_instance returning no id, billing into a per-account ledger,
 * SSH keys, rDNS per IP, and refusal to delete a main IP. Each API key is its
 * own account. Faults on demand through /_sim/faults.
 * State is kept in memory and, with `stateFile`, in a JSON file.
 */
import * as fs from "fs";
import * as http from "http";
import type { ServerHosts } from "./ssh-host";
import { AddressInfo } from "net";
import catalog from "../../../providers/hostwinds/catalog.json";

/**
 * [assumed] The secondary-IP purchase action (no public source names it); the
 * client states the same in providers/hostwinds/wire.ts (ASSUMPTIONS). `wire.ipPurchaseAction` renames it.
 */
export const SECONDARY_IP_PURCHASE_ACTION = "add_ip";
/** [assumed] The action listing SSH keys. */
export const LIST_SSH_KEYS_ACTION = "get_ssh_keys";
/**
 * [assumed] Hostwinds' rate limit: no public source states one (hostwinds-api.md §6). When the
 * stand-in is given `rateLimit: ASSUMED_RATE_LIMIT` (or its own numbers) it answers requests past
 * N per window per API key with HTTP 429 and Retry-After, as its `http429` fault does. Off by
 * default, so the code is tested with the assumption removed too.
 */
export const ASSUMED_RATE_LIMIT = { requests: 150, windowMs: 60_000 };

export interface SimPlan {
  id: number;
  rid: number;
  name: string;
  monthly: number;
  quarterly: number;
  annually: number;
  hourly: number;
  ram: number;
  cpu: number;
  disk: number;
}
/** The stand-in sells what the checked-in catalogue lists (unmanaged plans, locations, images). */
export const PLANS: SimPlan[] = catalog.plans;
/** get_price_list's default is managed=1 (PM upgrade-billing.md): managed plans are other, dearer rids. */
export const MANAGED_PLANS: SimPlan[] = catalog.plans.map((p) => ({
  ...p,
  id: p.id + 1000,
  rid: p.rid + 1000,
  name: p.name.replace("Unmanaged", "Managed"),
  monthly: p.monthly + 30,
  quarterly: p.quarterly + 90,
  annually: p.annually + 360,
  hourly: p.hourly + 0.05,
}));
export const LOCATIONS = catalog.locations;
export const IMAGES = catalog.images;
export const IP_MONTHLY_PRICE = catalog.ipMonthlyPriceUsd;

/**
 * The public addresses the stand-in hands out: only the three IPv4 blocks RFC 5737 §3 reserves for
 * documentation (TEST-NET-2, TEST-NET-1, TEST-NET-3), never real address space. Hosts .1 to .254 of each.
 */
export const DOCUMENTATION_RANGES = ["198.51.100", "192.0.2", "203.0.113"] as const;
const HOSTS_PER_RANGE = 254;
export const DOCUMENTATION_ADDRESSES = DOCUMENTATION_RANGES.length * HOSTS_PER_RANGE;

export class AddressesExhaustedError extends Error {
  override readonly name = "AddressesExhaustedError";
}

/** The n-th (0-based) documentation address; past the last one a clear error. */
export function documentationIp(n: number): string {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`documentation address number must be a whole number >= 0, not ${n}`);
  if (n >= DOCUMENTATION_ADDRESSES)
    throw new AddressesExhaustedError(
      `Hostwinds stand-in: all ${DOCUMENTATION_ADDRESSES} documentation addresses (198.51.100.0/24, 192.0.2.0/24, 203.0.113.0/24; RFC 5737) are handed out; ` +
        "start the stand-in with a fresh state (or fewer servers and IPs)",
    );
  return `${DOCUMENTATION_RANGES[Math.floor(n / HOSTS_PER_RANGE)]}.${(n % HOSTS_PER_RANGE) + 1}`;
}

/**
 * Switches for what no public source settles (providers/hostwinds/wire.ts ASSUMPTIONS, in its
 * order): each removes an assumed field or action or changes an assumed shape, so the provider is
 * tested without it. Defaults serve the assumption as the client states it.
 */
export interface WireAssumptions {
  /** 1. reinstall_instance keeps the root password (default true; false: a new one, as a fresh build would). */
  reinstallKeepsPassword?: boolean;
  /** 2. The name of the IP purchase action (default add_ip). */
  ipPurchaseAction?: string;
  /** 3. get_instance_ips entries carry `rdns` (default true; false: only `ip`, as PHP2 shows). */
  rdnsInIpList?: boolean;
  /** 4. The IP purchase answer names the IP (default false, like add_instance's answer). */
  purchaseAnswerIp?: boolean;
  /** 5. get_public_images: "list" of {uuid, name} (default), "other" (another shape), "absent" (Invalid Action). */
  images?: "list" | "other" | "absent";
  /** 6. get_ssh_keys lists the account's keys (default true; false: Invalid Action). */
  sshKeyList?: boolean;
  /** 7. get_locations: "list" of {id, name} (default), "other" (another shape), "absent" (Invalid Action). */
  locations?: "list" | "other" | "absent";
  /** 8. An instance's product_id is the price list's id of its plan (default true; false: an unrelated number). */
  productIdIsPlanId?: boolean;
  /** 9. IP orders held: see the ipDelayMs option (kept across restarts with stateFile). */
  /** 10. Server names: "kept" as sent (default), "panel" (drop `@`/`~`, lower-case, cut at 32; `panelName`), "ignored" (add_instance names it itself; edit_instance as "panel"). */
  serverNames?: "kept" | "panel" | "ignored";
  /** 11. An upgrade ends in RESIZED and needs confirm_upgrade (default true; false: ACTIVE on the new plan by itself). */
  upgradeConfirm?: boolean;
  /** 12. get_instances carries each server's `ips` as addresses (default true; false: `ips: null`, the documented "array|null"). */
  ipsInInstanceList?: boolean;
}

/** [assumed] What a control panel might do to a server name: drop `@` and `~`, lower-case it, cut it at 32 characters. */
export const panelName = (name: string): string => name.replace(/[@~]/g, "").toLowerCase().slice(0, 32);

/** [assumed] A product_id unrelated to the price list (wire switch productIdIsPlanId: false). */
const FOREIGN_PRODUCT = 700_000;

export interface LedgerEntry {
  seq: number;
  at: string;
  kind: "server" | "ip";
  /** reinstalled: the OS rebuilt on the same server (reinstall_instance), nothing charged. */
  event: "bought" | "released" | "upgraded" | "reinstalled";
  serviceId: number;
  ip?: string;
  name?: string;
  monthlyUsd: number;
}
interface SimIp {
  ip: string;
  rdns?: string;
  main: boolean;
  /** When the IP shows on the server: a bought IP is an order held until then (kept in --state). */
  readyAt: number;
}
interface SimInstance {
  serviceid: number;
  srvrname: string;
  hostname: string;
  status: string;
  location_id: number;
  product_id: number;
  billingcycle: string;
  template_uuid: string;
  ssh_keys: string[];
  password: string;
  configkey: string;
  activeAt: number;
  ips: SimIp[];
  createdAt: string;
  failBuild?: boolean;
  /** The main IP it gets when built (allocated at purchase, so running out is refused before anything is bought). */
  pendingMainIp?: string;
  /** Rebuilding its OS (reinstall_instance): back to ACTIVE with the same IPs. */
  reinstalling?: boolean;
  /** Being resized to this plan id (upgrade_instance): RESIZE, then RESIZED until confirm_upgrade. */
  resizingTo?: number;
}
interface Account {
  instances: SimInstance[];
  sshKeys: string[];
  ledger: LedgerEntry[];
}
interface State {
  accounts: Record<string, Account>;
  /** Keys revoked in the portal: they read the catalogue but no server (HWF README's stale key). */
  revoked?: string[];
  nextServiceId: number;
  nextIp: number;
  seq: number;
}

export interface Faults {
  /** Answer the next N requests with 429 (and Retry-After). */
  http429?: number;
  /** Answer the next N requests with HTTP 200 and Hostwinds' rate-limit error body. */
  rateLimitBody?: number;
  /** Answer the next N requests with 503. */
  http5xx?: number;
  /** Delay every answer by this many ms. */
  slowMs?: number;
  /** Commit the next N purchases, then drop the connection without an answer. */
  dropAfterPurchase?: number;
  /** Refuse purchases on a server within this many ms of the last one (Hostwinds' cooldown). */
  purchaseCooldownMs?: number;
  /** The next N servers bought end in status ERROR instead of ACTIVE (still billed, as a real failed build is). */
  failBuilds?: number;
}

export interface HostwindsSimOptions {
  port?: number;
  host?: string;
  /** API keys, each its own account. */
  apiKeys?: string[];
  /** How long a new server stays BUILD without an IP. */
  buildMs?: number;
  /** How long a bought IP takes to show up (an order Hostwinds holds; hours or days for real). */
  ipDelayMs?: number;
  /** Assumed fields and shapes on or off (see WireAssumptions). */
  wire?: WireAssumptions;
  /** Requests per window per API key before 429s ([assumed], see ASSUMED_RATE_LIMIT); default none. */
  rateLimit?: { requests: number; windowMs: number };
  stateFile?: string;
  /**
   * Hosts behind the servers (scripts/dev/standins/ssh-host.ts): a server that finishes building gets one and
   * its address as main IP, so SSH to the main IP reaches a real shell; terminating it removes the host.
   */
  hosts?: ServerHosts;
}

const emptyState = (keys: string[]): State => ({
  accounts: Object.fromEntries(keys.map((k) => [k, { instances: [], sshKeys: [], ledger: [] }])),
  nextServiceId: 10001,
  nextIp: 10,
  seq: 0,
});

export class HostwindsSim {
  private state: State;
  private server?: http.Server;
  faults: Faults = {};
  /** Requests received by action, for tests and benchmarks. */
  readonly requests = new Map<string, number>();
  /** The stand-in's own failures (answered 500), for tests to show. */
  readonly failures: string[] = [];
  /** Requests refused by the rate limit, per API key. */
  readonly refused = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();
  /** Called after each API request is handled (tests use it to act at an exact moment, e.g. kill a process). */
  onRequest?: (action: string) => void;
  private lastPurchase = new Map<number, number>();

  constructor(private o: HostwindsSimOptions = {}) {
    const keys = o.apiKeys ?? ["sim-key-alpha", "sim-key-bravo"];
    this.state = emptyState(keys);
    if (o.stateFile && fs.existsSync(o.stateFile)) {
      this.state = JSON.parse(fs.readFileSync(o.stateFile, "utf8")) as State;
      for (const k of keys) this.state.accounts[k] ??= { instances: [], sshKeys: [], ledger: [] };
    }
  }

  private get origin(): string {
    const a = this.server?.address() as AddressInfo;
    return `http://${this.o.host ?? "127.0.0.1"}:${a.port}`;
  }

  get url(): string {
    return `${this.origin}/cloud/api.php`;
  }

  get controlUrl(): string {
    return `${this.origin}/_sim`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) =>
      this.handle(req, res).catch((e: Error) => {
        // The stand-in itself broke (e.g. a host it could not make): a 500 the client gives up on
        // after its retries, named, rather than a request never answered.
        this.failures.push(e.message);
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: `Hostwinds stand-in failed: ${e.message}` }));
      }),
    );
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => this.server!.listen(this.o.port ?? 0, this.o.host ?? "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /**
   * Stack config that points the Hostwinds provider at this stand-in (key as a
   * secret). Waits are polled fast and the client's rate limit is off by default.
   */
  stackConfig(
    apiKey: string,
    tuning: { pollIntervalMs?: number; requestsPerSecond?: number } = {},
  ): Record<string, { value: string; secret?: boolean }> {
    return {
      "hostwinds:apiUrl": { value: this.url },
      "hostwinds:apiKey": { value: apiKey, secret: true },
      "hostwinds:pollIntervalMs": { value: String(tuning.pollIntervalMs ?? 100) },
      "hostwinds:requestsPerSecond": { value: String(tuning.requestsPerSecond ?? 0) },
    };
  }

  /** Changes provisioning times from now on (benchmarks vary them between runs). */
  setTiming(t: Pick<HostwindsSimOptions, "buildMs" | "ipDelayMs">): void {
    this.o = { ...this.o, ...t };
  }

  /** Turns assumed fields and shapes on or off from now on. */
  setWire(w: WireAssumptions): void {
    this.o = { ...this.o, wire: { ...this.o.wire, ...w } };
  }

  /** Revokes an API key as the portal would: it still reads the catalogue, but every server answers "A valid serviceid is required." */
  revokeKey(apiKey: string, revoked = true): void {
    const set = new Set(this.state.revoked ?? []);
    if (revoked) set.add(apiKey);
    else set.delete(apiKey);
    this.state.revoked = [...set];
    this.persist();
  }

  /** IP orders bought and not yet on their server, per account. */
  heldOrders(apiKey: string): Array<{ serviceId: number; ip: string; readyAt: string }> {
    return (this.account(apiKey)?.instances ?? []).flatMap((i) =>
      i.ips
        .filter((x) => x.readyAt > Date.now())
        .map((x) => ({ serviceId: i.serviceid, ip: x.ip, readyAt: new Date(x.readyAt).toISOString() })),
    );
  }

  /** Hostwinds assigns the held IP orders (of one server, or all) now: they show in get_instance_ips. */
  fulfilHeldOrders(apiKey: string, serviceId?: number): void {
    for (const i of this.account(apiKey)?.instances ?? [])
      if (serviceId === undefined || i.serviceid === serviceId) for (const x of i.ips) if (x.readyAt > Date.now()) x.readyAt = Date.now();
    this.persist();
  }

  /** Requests of `apiKey` the rate limit counts now (its window; 0 without a limit): tests wait for 0. */
  rateWindow(apiKey: string): number {
    const limit = this.o.rateLimit;
    if (!limit?.requests) return 0;
    return (this.recent.get(apiKey) ?? []).filter((t) => t > Date.now() - limit.windowMs).length;
  }

  ledger(apiKey: string): LedgerEntry[] {
    return this.account(apiKey)?.ledger ?? [];
  }

  /** What the account holds now, as the panel would show it. */
  inventory(apiKey: string): Array<{ serviceId: number; name: string; status: string; ips: string[] }> {
    return (this.account(apiKey)?.instances ?? []).map((i) => ({
      serviceId: i.serviceid,
      name: i.srvrname,
      status: this.settle(i).status,
      ips: this.visibleIps(i).map((ip) => ip.ip),
    }));
  }

  /**
   * Puts an ACTIVE server with its IPs into an account as if bought earlier (benchmarks seed a
   * fleet cloned from real checkpoints, so the ids and addresses are given).
   */
  seedInstance(
    apiKey: string,
    i: {
      serviceId: number;
      name: string;
      plan: number;
      location: number;
      billingCycle: string;
      template: string;
      mainIp: string;
      ips: Array<{ ip: string; rdns?: string }>;
    },
  ): void {
    const acct = (this.state.accounts[apiKey] ??= { instances: [], sshKeys: [], ledger: [] });
    acct.instances.push({
      serviceid: i.serviceId,
      srvrname: i.name,
      hostname: `hwsrv-${i.serviceId}.hostwindsdns.com`,
      status: "ACTIVE",
      location_id: i.location,
      product_id: i.plan,
      billingcycle: i.billingCycle,
      template_uuid: i.template,
      ssh_keys: [],
      password: "seeded",
      configkey: "seeded",
      activeAt: 0,
      ips: [{ ip: i.mainIp, main: true, readyAt: 0 }, ...i.ips.map((x) => ({ ip: x.ip, rdns: x.rdns, main: false, readyAt: 0 }))],
      createdAt: new Date().toISOString(),
    });
    this.state.nextServiceId = Math.max(this.state.nextServiceId, i.serviceId + 1);
  }

  /** Renames a server as if someone did it in the Hostwinds panel. */
  renameByHand(apiKey: string, serviceId: number, name: string): void {
    const i = this.account(apiKey)!.instances.find((x) => x.serviceid === serviceId);
    if (!i) throw new Error(`no server ${serviceId}`);
    i.srvrname = name;
  }

  /** Releases an IP as if someone did it in the Hostwinds panel. */
  releaseIpByHand(apiKey: string, ip: string): void {
    const acct = this.account(apiKey)!;
    const inst = acct.instances.find((i) => i.ips.some((x) => x.ip === ip && !x.main));
    if (!inst) throw new Error(`no secondary IP ${ip}`);
    inst.ips = inst.ips.filter((x) => x.ip !== ip);
    this.record(acct, { kind: "ip", event: "released", serviceId: inst.serviceid, ip, monthlyUsd: IP_MONTHLY_PRICE });
  }

  /** The reverse DNS name of an IP in any account, as a PTR answer would give it (the DNS stand-in's source). */
  ptr(ip: string): string | undefined {
    for (const acct of Object.values(this.state.accounts))
      for (const i of acct.instances) for (const x of this.visibleIps(i)) if (x.ip === ip) return x.rdns ?? undefined;
    return undefined;
  }

  setRdnsByHand(apiKey: string, ip: string, rdns: string): void {
    for (const i of this.account(apiKey)!.instances) for (const x of i.ips) if (x.ip === ip) x.rdns = rdns;
    this.persist();
  }

  private account(key: string | undefined): Account | undefined {
    return key ? this.state.accounts[key] : undefined;
  }

  private persist(): void {
    if (this.o.stateFile) fs.writeFileSync(this.o.stateFile, JSON.stringify(this.state, null, 1));
  }

  private record(acct: Account, e: Omit<LedgerEntry, "seq" | "at">): void {
    acct.ledger.push({ seq: ++this.state.seq, at: new Date().toISOString(), ...e });
    this.persist();
  }

  /** The next public address (documentationIp); throws AddressesExhaustedError, taking none, when all are out. */
  private newIp(): string {
    const ip = documentationIp(this.state.nextIp);
    this.state.nextIp++;
    return ip;
  }

  /** Moves a server from BUILD to ACTIVE (with its main IP) once its time has come. */
  private settle(i: SimInstance): SimInstance {
    if (i.status === "BUILD" && Date.now() >= i.activeAt && i.failBuild) {
      i.status = "ERROR";
      this.persist();
    } else if (i.status === "BUILD" && Date.now() >= i.activeAt && i.reinstalling) {
      i.status = "ACTIVE";
      i.reinstalling = false;
      const main = i.ips.find((x) => x.main);
      if (main) this.o.hosts?.reinstallHost?.(main.ip);
      this.persist();
    } else if (i.status === "RESIZE" && Date.now() >= i.activeAt && i.resizingTo !== undefined) {
      if (this.o.wire?.upgradeConfirm === false) {
        i.product_id = i.resizingTo;
        delete i.resizingTo;
        i.status = "ACTIVE";
      } else i.status = "RESIZED";
      this.persist();
    } else if (i.status === "BUILD" && Date.now() >= i.activeAt) {
      // The host first: if the SSH-host stand-in cannot make it, the server stays in BUILD and the
      // request fails (500, see handle), instead of an ACTIVE server with no main IP waited on for 30 min.
      // The host runs the image the server was bought with (Debian 12 or 13: the SSH-host stand-in's suite).
      const ip =
        this.o.hosts?.addHost(i.serviceid, i.password, IMAGES.find((x) => x.uuid === i.template_uuid)?.slug) ??
        i.pendingMainIp ??
        this.newIp();
      i.status = "ACTIVE";
      i.ips.unshift({ ip, main: true, readyAt: Date.now() });
      delete i.pendingMainIp;
      this.persist();
    }
    return i;
  }

  /** IPs that have finished being assigned; a bought IP is invisible until then. */
  private visibleIps(i: SimInstance): SimIp[] {
    this.settle(i);
    return i.ips.filter((x) => x.readyAt <= Date.now());
  }

  private view(i: SimInstance) {
    this.settle(i);
    const main = i.ips.find((x) => x.main);
    return {
      serviceid: i.serviceid,
      srvrname: i.srvrname,
      hostname: i.hostname,
      name: i.srvrname,
      status: i.status,
      main_ip: main?.ip ?? null,
      location_id: i.location_id,
      product_id: this.o.wire?.productIdIsPlanId === false ? FOREIGN_PRODUCT + i.product_id : i.product_id,
      billingcycle: i.billingcycle,
      template_uuid: i.template_uuid,
      ssh_keys: i.ssh_keys,
      password: i.password,
      configkey: i.configkey,
      // PM server-management's field list (`ips` array|null; shared reference hostwinds-api.md); the entries as
      // addresses is [assumed] (providers/hostwinds/wire.ts ASSUMPTIONS: ips in get_instances).
      ips: this.o.wire?.ipsInInstanceList === false ? null : this.visibleIps(i).map((x) => x.ip),
      hourly: i.billingcycle === "hourly" ? 1 : 0,
      locked: 0,
      created_at: i.createdAt,
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://sim");
    const path = url.pathname;
    if (path.startsWith("/_sim")) return this.control(url, req.method ?? "GET", raw, res);

    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    if (this.faults.slowMs) await new Promise((r) => setTimeout(r, this.faults.slowMs));
    if (path !== "/cloud/api.php" || req.method !== "POST") return send(404, { error: "not found" });

    const form = new URLSearchParams(raw);
    const action = form.get("action") ?? "";
    this.requests.set(action, (this.requests.get(action) ?? 0) + 1);
    if (this.faults.http429 && this.faults.http429 > 0) {
      this.faults.http429--;
      return send(429, { result: "error", message: "Too Many Requests" }, { "retry-after": "1" });
    }
    if (this.faults.rateLimitBody && this.faults.rateLimitBody > 0) {
      this.faults.rateLimitBody--;
      return send(200, [{ result: "error", action: "Rate Limit", message: "Too many requests. Please try again later." }]);
    }
    if (this.faults.http5xx && this.faults.http5xx > 0) {
      this.faults.http5xx--;
      return send(503, { message: "Service Unavailable" });
    }
    const acct = this.account(form.get("API") ?? undefined);
    if (!acct) return send(200, { result: "error", action: "Authorization", message: "Not Authorized!" });
    const limit = this.o.rateLimit;
    if (limit?.requests) {
      const key = form.get("API")!;
      const now = Date.now();
      const recent = (this.recent.get(key) ?? []).filter((t) => t > now - limit.windowMs);
      if (recent.length >= limit.requests) {
        this.refused.set(key, (this.refused.get(key) ?? 0) + 1);
        return send(
          429,
          { result: "error", message: "Too Many Requests" },
          { "retry-after": String(Math.ceil((recent[0] + limit.windowMs - now) / 1000)) },
        );
      }
      recent.push(now);
      this.recent.set(key, recent);
    }

    const revoked = (this.state.revoked ?? []).includes(form.get("API") ?? "");
    const out =
      revoked && !["get_locations", "get_price_list", "get_public_images"].includes(action)
        ? { body: [{ result: "error", message: "A valid serviceid is required.", ERROR: "5529903" }], purchase: false }
        : this.dispatch(acct, action, form);
    if (out.purchase && this.faults.dropAfterPurchase && this.faults.dropAfterPurchase > 0) {
      this.faults.dropAfterPurchase--;
      req.socket.destroy(); // committed, but the answer is lost
    } else {
      send(200, out.body);
    }
    this.onRequest?.(action);
  }

  // eslint-disable-next-line max-lines-per-function -- a stand-in's request dispatcher: one case per API action, read as the API's table of actions
  private dispatch(acct: Account, action: string, f: URLSearchParams): { body: unknown; purchase?: boolean } {
    const err = (actionName: string, message: string, code = "1000") => ({
      body: [{ result: "error", action: actionName, message, ERROR: code }],
    });
    const ok = (actionName: string, message: string) => ({ body: [{ result: "success", action: actionName, message }] });
    const invalidAction = () => ({ body: [{ result: "error", message: "Invalid Action.", ERROR: "6734" }] });
    const instance = () => {
      const id = Number(f.get("serviceid"));
      return acct.instances.find((i) => i.serviceid === id);
    };
    switch (action) {
      case "get_instances":
        return { body: { success: acct.instances.map((i) => this.view(i)) } };
      case "get_instance_ids":
        return { body: { success: acct.instances.map((i) => ({ id: i.serviceid, srvrname: i.srvrname, hostname: i.hostname })) } };
      case "get_instance": {
        const i = instance();
        return i ? { body: { success: this.view(i) } } : err("Get Instance", "A valid serviceid is required.", "5529903");
      }
      case "check_serviceid":
        return instance() ? { body: { success: true } } : err("Check Serviceid", "A valid serviceid is required.");
      case "get_locations":
        // [assumed] shape (wire.ts ASSUMPTIONS: get_locations); the switch serves another or none.
        if (this.o.wire?.locations === "absent") return invalidAction();
        if (this.o.wire?.locations === "other")
          return { body: { success: { locations: LOCATIONS.map((l) => ({ location_id: String(l.id), location_name: l.name })) } } };
        return { body: { success: LOCATIONS } };
      case "get_images":
      case "get_public_images":
        // [assumed] shape: no public source shows this answer (see wire.ts ASSUMPTIONS).
        if (this.o.wire?.images === "absent") return invalidAction();
        if (this.o.wire?.images === "other")
          return { body: { success: { templates: IMAGES.map((i) => ({ template: i.uuid, description: i.name })) } } };
        return { body: { success: IMAGES.map((i) => ({ uuid: i.uuid, name: i.name })) } };
      case "get_price_list":
        // PM upgrade-billing.md: an object of plans with `id` and `rid` apart, prices as strings; managed defaults to 1.
        return {
          body: {
            success: Object.fromEntries(
              (f.get("managed") === "0" ? PLANS : MANAGED_PLANS).map((p) => [
                String(p.id),
                {
                  ...p,
                  monthly: p.monthly.toFixed(2),
                  quarterly: p.quarterly.toFixed(2),
                  annually: p.annually.toFixed(2),
                  hourly: p.hourly.toFixed(4),
                },
              ]),
            ),
          },
        };
      case "add_instance": {
        // TF add-instance/main.tf: template (an image UUID), rid (from get_price_list), location_id, qty, keys[], srvrname, billingcycle.
        const plan = [...PLANS, ...MANAGED_PLANS].find((p) => p.rid === Number(f.get("rid")));
        if (!LOCATIONS.some((l) => l.id === Number(f.get("location_id")))) return err("Add Instance", "Location Id is invalid.", "342432");
        if (!plan) return err("Add Instance", "A valid rid is required.");
        if (!IMAGES.some((i) => i.uuid === f.get("template"))) return err("Add Instance", "A valid template is required.");
        const cycle = f.get("billingcycle") ?? "monthly";
        if (!["hourly", "monthly", "quarterly", "annually"].includes(cycle)) return err("Add Instance", "Invalid billing cycle.");
        const keys = f.getAll("keys[]");
        const missing = keys.find((k) => !acct.sshKeys.includes(k));
        if (missing) return err("Add Instance", `SSH key ${missing} was not found.`);
        let pendingMainIp: string | undefined;
        try {
          pendingMainIp = this.o.hosts ? undefined : this.newIp();
        } catch (e) {
          if (e instanceof AddressesExhaustedError) return err("Add Instance", e.message);
          throw e;
        }
        const id = this.state.nextServiceId++;
        const sent = f.get("srvrname") ?? `server-${id}`;
        const naming = this.o.wire?.serverNames ?? "kept";
        const name = naming === "ignored" ? `hwsrv-${id}` : naming === "panel" ? panelName(sent) : sent;
        const failBuild = (this.faults.failBuilds ?? 0) > 0;
        if (failBuild) this.faults.failBuilds!--;
        acct.instances.push({
          serviceid: id,
          srvrname: name,
          hostname: `hwsrv-${id}.hostwindsdns.com`,
          status: "BUILD",
          location_id: Number(f.get("location_id")),
          product_id: plan.id,
          billingcycle: cycle,
          template_uuid: f.get("template")!,
          ssh_keys: keys,
          password: `pw-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
          configkey: `ck-${Math.random().toString(36).slice(2)}`,
          activeAt: Date.now() + (this.o.buildMs ?? 2000),
          ips: [],
          createdAt: new Date().toISOString(),
          failBuild,
          pendingMainIp,
        });
        this.record(acct, { kind: "server", event: "bought", serviceId: id, name, monthlyUsd: plan.monthly });
        return {
          body: [
            { result: "success", action: "Invoice Paid", message: "Invoice Paid" },
            { result: "success", action: "Add Instance", message: "Server is being Created!" },
          ],
          purchase: true,
        };
      }
      case "terminate": {
        const i = instance();
        if (!i) return err("Terminate", "A valid serviceid is required.", "5529903");
        acct.instances = acct.instances.filter((x) => x !== i);
        const main = i.ips.find((x) => x.main);
        if (main) this.o.hosts?.removeHost(main.ip);
        for (const ip of i.ips.filter((x) => !x.main))
          this.record(acct, { kind: "ip", event: "released", serviceId: i.serviceid, ip: ip.ip, monthlyUsd: IP_MONTHLY_PRICE });
        this.record(acct, {
          kind: "server",
          event: "released",
          serviceId: i.serviceid,
          name: i.srvrname,
          monthlyUsd: [...PLANS, ...MANAGED_PLANS].find((p) => p.id === i.product_id)!.monthly,
        });
        return ok("Terminate", "Instance deleted");
      }
      case "reinstall_instance": {
        // [assumed] (providers/hostwinds/wire.ts ASSUMPTIONS: reinstall): the answer is PM's rewrite of the
        // docs ("Reinstall Instance", "…is being rebuilt!"); BUILD while it rebuilds, same IPs and password after.
        const i = instance();
        if (!i) return err("Reinstall Instance", "A valid serviceid is required.", "5529903");
        if (!f.get("template")) return err("Reinstall Instance", "A valid template is required.", "5529904");
        i.status = "BUILD";
        i.reinstalling = true;
        i.template_uuid = f.get("template")!;
        this.record(acct, { kind: "server", event: "reinstalled", serviceId: i.serviceid, name: i.srvrname, monthlyUsd: 0 });
        if (this.o.wire?.reinstallKeepsPassword === false) i.password = `pw-${Math.random().toString(36).slice(2)}`;
        i.activeAt = Date.now() + (this.o.buildMs ?? 0);
        this.persist();
        return ok("Reinstall Instance", `Instance Server#${i.serviceid} is being rebuilt!`);
      }
      case "edit_instance": {
        const i = instance();
        if (!i) return err("Edit Instance", "A valid serviceid is required.", "5529903");
        const sent = f.get("srvrname");
        if (sent) i.srvrname = (this.o.wire?.serverNames ?? "kept") === "kept" ? sent : panelName(sent);
        this.persist();
        return ok("Edit Instance", "Instance server name has been updated");
      }
      case "get_instance_ips": {
        const i = instance();
        if (!i) return err("Get Instance IPs", "A valid serviceid is required.", "5529903");
        // PHP2: {"success":{"IP Addresses":[{"ip":…}]}}; rdns and main are [assumed] and can be switched off.
        const withRdns = this.o.wire?.rdnsInIpList ?? true;
        return {
          body: {
            success: {
              "IP Addresses": this.visibleIps(i).map((x) =>
                withRdns ? { ip: x.ip, rdns: x.rdns ?? null, main: x.main ? 1 : 0 } : { ip: x.ip },
              ),
            },
          },
        };
      }
      case this.o.wire?.ipPurchaseAction ?? SECONDARY_IP_PURCHASE_ACTION: {
        const i = instance();
        if (!i) return err("Add IP", "A valid serviceid is required.", "5529903");
        if (this.settle(i).status !== "ACTIVE") return err("Add IP", "The server must be active to add an IP.");
        const cooldown = this.faults.purchaseCooldownMs ?? 0;
        const last = this.lastPurchase.get(i.serviceid) ?? 0;
        if (cooldown && Date.now() - last < cooldown) return err("Add IP", "Please wait before requesting another IP. Try again later.");
        let ip: string;
        try {
          ip = this.newIp();
        } catch (e) {
          if (e instanceof AddressesExhaustedError) return err("Add IP", e.message);
          throw e;
        }
        this.lastPurchase.set(i.serviceid, Date.now());
        i.ips.push({ ip, main: false, readyAt: Date.now() + (this.o.ipDelayMs ?? 1000) });
        this.record(acct, { kind: "ip", event: "bought", serviceId: i.serviceid, ip, monthlyUsd: IP_MONTHLY_PRICE });
        return {
          body: [
            { result: "success", action: "Invoice Paid", message: "Invoice Paid" },
            { result: "success", action: "Add IP", message: "IP is being assigned", ...(this.o.wire?.purchaseAnswerIp ? { ip } : {}) },
          ],
          purchase: true,
        };
      }
      case "delete_ip": {
        const i = instance();
        if (!i) return err("Delete IP", "A valid serviceid is required.", "5529903");
        const ip = i.ips.find((x) => x.ip === f.get("ip"));
        if (!ip) return err("Delete IP", "IP not found on this service.");
        if (ip.main) return err("Delete IP", "The main IP cannot be removed.");
        i.ips = i.ips.filter((x) => x !== ip);
        this.record(acct, { kind: "ip", event: "released", serviceId: i.serviceid, ip: ip.ip, monthlyUsd: IP_MONTHLY_PRICE });
        return ok("Delete IP", "IP removed");
      }
      case "set_rdns": {
        const i = instance();
        if (!i) return err("Set rDNS", "A valid serviceid is required.", "5529903");
        const ip = i.ips.find((x) => x.ip === f.get("ip"));
        const rdns = f.get("rdns") ?? "";
        if (!ip) return err("Set rDNS", "IP not found on this service.");
        if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/i.test(rdns))
          return err("Set rDNS", "Invalid rDNS hostname.");
        ip.rdns = rdns;
        this.persist();
        return ok("Set rDNS", "rDNS record updated.");
      }
      case "add_ssh_key": {
        const name = f.get("name");
        if (!name) return err("Add SSH Key", "A name is required.");
        if (!acct.sshKeys.includes(name)) acct.sshKeys.push(name);
        this.persist();
        return ok("Add SSH Key", "SSH key added");
      }
      case "delete_ssh_key":
        acct.sshKeys = acct.sshKeys.filter((k) => k !== f.get("name"));
        this.persist();
        return ok("Delete SSH Key", "SSH key deleted");
      case LIST_SSH_KEYS_ACTION:
        if (this.o.wire?.sshKeyList === false) return invalidAction();
        return { body: { success: acct.sshKeys.map((name) => ({ name })) } };
      case "upgrade_instance": {
        // PM upgrade-billing.md [D]: rid from the price list; an order and invoice (paid here from credit, [assumed]);
        // the resize, then RESIZED until confirm_upgrade ([assumed], wire switch upgradeConfirm).
        const i = instance();
        if (!i) return err("Upgrade Instance", "A valid serviceid is required.", "5529903");
        const plan = [...PLANS, ...MANAGED_PLANS].find((p) => p.rid === Number(f.get("rid")));
        if (!plan) return err("Upgrade Instance", "A valid rid is required.");
        if (this.settle(i).status !== "ACTIVE") return err("Upgrade Instance", "There is already an open upgrade order for this service.");
        i.status = "RESIZE";
        i.resizingTo = plan.id;
        i.activeAt = Date.now() + (this.o.buildMs ?? 2000);
        this.record(acct, { kind: "server", event: "upgraded", serviceId: i.serviceid, name: i.srvrname, monthlyUsd: plan.monthly });
        return {
          body: [
            { result: "success", action: "Invoice Paid", message: "Invoice Paid" },
            { result: "success", action: "Upgrade Instance", message: "Upgrade order created" },
          ],
          purchase: true,
        };
      }
      case "confirm_upgrade": {
        const i = instance();
        if (!i) return err("Confirm Upgrade", "A valid serviceid is required.", "5529903");
        if (this.settle(i).status !== "RESIZED" || i.resizingTo === undefined)
          return err("Confirm Upgrade", "There is no upgrade to confirm.");
        i.product_id = i.resizingTo;
        delete i.resizingTo;
        i.status = "ACTIVE";
        this.persist();
        return ok("Confirm Upgrade", "Upgrade confirmed");
      }
      default:
        return invalidAction();
    }
  }

  /** /_sim/faults (POST JSON sets, GET reads), /_sim/ledger?key=…, /_sim/inventory?key=…, /_sim/requests. */
  private control(url: URL, method: string, raw: string, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const key = url.searchParams.get("key") ?? "";
    switch (url.pathname) {
      case "/_sim/faults":
        if (method === "POST") this.faults = JSON.parse(raw || "{}") as Faults;
        return send(200, this.faults);
      case "/_sim/ledger":
        return send(200, this.ledger(key));
      case "/_sim/inventory":
        return send(200, this.inventory(key));
      case "/_sim/requests":
        return send(200, Object.fromEntries(this.requests));
      default:
        return send(404, { error: `unknown control path ${url.pathname}` });
    }
  }
}
