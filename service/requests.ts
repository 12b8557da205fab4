/**
 * What the platform can ask for, and what each request does to the tenant's config: the one
 * change to `stacks/Pulumi.<tenant>.yaml` that a person would make by hand. A changed config is
 * judged as a preview judges it: the tenant schema (providers/model/tenant.ts), then the policy
 * pack's own rules for the tier and the budget (policies/rules.ts), with their messages. The
 * engine runs the pack again on `up`, so nothing over a limit is bought even if this check missed.
 */
import { z } from "zod";
import { HOSTNAME, IPV4, SLUG } from "../providers/model/names";
import {
  DEFAULT_IMAGE,
  MAX_IPS_PER_SERVER,
  Tenant,
  TenantConfigError,
  billedIps,
  declaredMonthlyCost,
  domainSchema,
  ipWarmupSettings,
  mailboxCount,
  parseTenant,
  serverSchema,
} from "../providers/model/tenant";
import { registrableProblem } from "../providers/model/zones";
import { localPart, mailboxSchema } from "../providers/model/mailboxes";
import { PolicyConfig, TENANT_PLAN, declaredPlanWithinLimits, limitsFor } from "../policies/rules";
import { defaultPriceBook } from "../providers/hostwinds/catalog";

const serverName = z.string().regex(SLUG, "expected a server name (lowercase letters, digits, dashes)");
const ip = z.string().regex(IPV4, "expected an IPv4 address");
const domainName = z.string().regex(HOSTNAME, "expected a lowercase domain name such as acme-mail.com");
/** A mailbox's address: a local part MailU takes, @, one of the tenant's domains. */
export const mailboxAddress = z.string({ error: "expected a mailbox address" }).superRefine((v, ctx) => {
  const at = v.lastIndexOf("@");
  const local = localPart.safeParse(v.slice(0, Math.max(at, 0)));
  if (at < 1 || !HOSTNAME.test(v.slice(at + 1))) ctx.addIssue({ code: "custom", message: "expected local-part@domain" });
  else if (!local.success) ctx.addIssue({ code: "custom", message: local.error.issues[0].message });
});
const splitAddress = (a: string) => ({ local: a.slice(0, a.lastIndexOf("@")), domain: a.slice(a.lastIndexOf("@") + 1) });

export const requestBodies = {
  acquire_ips: z.object({ server: serverName, count: z.number().int().min(1).max(MAX_IPS_PER_SERVER) }).strict(),
  add_server: serverSchema
    .pick({ name: true, location: true, plan: true, billingCycle: true, sendingIps: true, standbyIps: true })
    .strict(),
  release_ip: z.object({ ip }).strict(),
  retire_ip: z.object({ ip }).strict(),
  pause_ip: z.object({ ip }).strict(),
  add_standby: z.object({ server: serverName, count: z.number().int().min(1).max(4).default(1) }).strict(),
  /** A larger (or smaller) Hostwinds plan for a server: upgraded in place (upgrade_instance), mail and IPs kept (providers/hostwinds/instance.ts). */
  change_plan: z.object({ server: serverName, plan: z.number().int().positive() }).strict(),
  add_domain: domainSchema.pick({ name: true, dmarcPolicy: true, zone: true }).strict(),
  remove_domain: z.object({ domain: domainName }).strict(),
  add_mailbox: mailboxSchema.pick({ localPart: true, quotaMb: true, enabled: true }).extend({ domain: domainName }).strict(),
  change_mailbox: z
    .object({ address: mailboxAddress, quotaMb: mailboxSchema.shape.quotaMb.unwrap().optional(), enabled: z.boolean().optional() })
    .strict(),
  remove_mailbox: z.object({ address: mailboxAddress }).strict(),
  rotate_mailbox: z.object({ address: mailboxAddress }).strict(),
  /** The customer's warm-up of one IP (PUT /tenants/{t}/ips/{ip}/warmup): start, growth, ceiling, pause; each left out keeps the tenant's. */
  set_warmup: ipWarmupSettings.omit({ restartedOn: true }).extend({ ip }).strict(),
  /**
   * The journeys' "Initiate Recovery Protocol" for an IP taken out of use ("Switch to Backup IP" is
   * pause_ip): `retire` replaces it (the new IP is bought and takes its slot before the old one is
   * released), `resume` sends from it again with its warm-up started over from today.
   */
  recover_ip: z.object({ ip, action: z.enum(["retire", "resume"], "expected retire or resume") }).strict(),
};

/**
 * A tenant's whole life, asked for on /tenants (platform-wide tokens only), never through
 * POST /tenants/{t}/requests: onboarding (the config is the stack config as a person writes it)
 * and offboarding.
 */
export const tenantRequestBodies = {
  create_tenant: z.record(z.string(), z.unknown()),
  delete_tenant: z.object({ force: z.boolean().default(false) }).strict(),
};

/** The kinds POST /tenants/{t}/requests takes. */
export type SubmittableKind = keyof typeof requestBodies;
export const SUBMITTABLE_KINDS = Object.keys(requestBodies) as SubmittableKind[];
export type RequestKind = SubmittableKind | keyof typeof tenantRequestBodies;
export const REQUEST_KINDS = [...SUBMITTABLE_KINDS, ...Object.keys(tenantRequestBodies)] as RequestKind[];

export const TERMINAL = ["assigned", "released", "rejected", "failed", "cancelled"] as const;
export const STATUSES = ["requested", "confirmed", "purchasing", "releasing", ...TERMINAL] as const;
export type Status = (typeof STATUSES)[number];

/** The status a request ends in when its change is applied. */
export const doneStatus = (kind: RequestKind): Status =>
  kind === "release_ip" || kind === "remove_domain" || kind === "delete_tenant" || kind === "remove_mailbox" ? "released" : "assigned";

/** The requests whose result carries a new password, shown once (GET /requests/{id}). */
export const CREDENTIAL_KINDS: readonly RequestKind[] = ["add_mailbox", "rotate_mailbox"];

/** An IP as the tenant's stack outputs describe it. */
export interface KnownIp {
  ip: string;
  server: string;
  role: "sending" | "standby" | "paused";
  /** 1-based slot among the server's sending (or standby) IPs. */
  slot: number;
}

export class RequestRejected extends Error {
  override readonly name = "RequestRejected";
}

function findServer(t: Tenant, name: string) {
  const s = t.servers.find((x) => x.name === name);
  if (!s) throw new RequestRejected(`tenant ${t.id} has no server ${name} (it has ${t.servers.map((x) => x.name).join(", ")})`);
  return s;
}

/** An IP's slot name as the config's `ipWarmup` keys it (`mx1-ip2`, `mx1-standby1`). */
export const slotName = (k: KnownIp) => `${k.server}-${k.role === "standby" ? "standby" : "ip"}${k.slot}`;
function findMailbox(t: Tenant, address: string) {
  const { local, domain } = splitAddress(address);
  const d = t.domains.find((x) => x.name === domain);
  if (!d) throw new RequestRejected(`tenant ${t.id} has no domain ${domain} (its domains: ${t.domains.map((x) => x.name).join(", ")})`);
  const i = d.mailboxes.findIndex((m) => m.localPart === local);
  if (i < 0)
    throw new RequestRejected(`tenant ${t.id} has no mailbox ${address} (GET /tenants/${t.id}/domains/${domain}/mailboxes lists them)`);
  return { d, i, m: d.mailboxes[i] };
}

function findIp(t: Tenant, ips: KnownIp[], address: string): KnownIp {
  const k = ips.find((i) => i.ip === address);
  if (!k) throw new RequestRejected(`tenant ${t.id} has no IP ${address} (its IPs: ${ips.map((i) => i.ip).join(", ") || "none yet"})`);
  findServer(t, k.server);
  return k;
}

/** What each request does to the tenant config (`t`, a copy): one handler per kind, each reading its own body. */
const CHANGES: { [K in SubmittableKind]: (t: Tenant, params: unknown, ips: KnownIp[]) => void } = {
  acquire_ips: (t, params) => {
    const p = requestBodies.acquire_ips.parse(params);
    findServer(t, p.server).sendingIps += p.count;
  },
  add_server: (t, params) => {
    const p = requestBodies.add_server.parse(params);
    if (t.servers.some((s) => s.name === p.name)) throw new RequestRejected(`tenant ${t.id} already has a server ${p.name}`);
    t.servers.push({ ...p, image: DEFAULT_IMAGE, sshKeys: [], retireIps: [], pausedIps: [] });
  },
  add_standby: (t, params) => {
    const p = requestBodies.add_standby.parse(params);
    findServer(t, p.server).standbyIps += p.count;
  },
  change_plan: (t, params) => {
    const p = requestBodies.change_plan.parse(params);
    const s = findServer(t, p.server);
    if (s.plan === p.plan) throw new RequestRejected(`server ${p.server} of tenant ${t.id} is on plan ${p.plan} already`);
    s.plan = p.plan;
  },
  pause_ip: (t, params, ips) => {
    const p = requestBodies.pause_ip.parse(params);
    const k = findIp(t, ips, p.ip);
    const s = findServer(t, k.server);
    if (k.role !== "sending")
      throw new RequestRejected(
        `IP ${p.ip} of tenant ${t.id} is ${k.role === "paused" ? "paused already" : "a standby IP"}; only a sending IP can be paused`,
      );
    if (s.pausedIps.length >= s.standbyIps)
      throw new RequestRejected(
        `server ${s.name} of tenant ${t.id} has no free standby IP to take ${p.ip}'s place; add a standby first (add_standby)`,
      );
    s.pausedIps.push(p.ip);
  },
  set_warmup: (t, params, ips) => {
    const { ip: address, ...own } = requestBodies.set_warmup.parse(params);
    const slot = slotName(findIp(t, ips, address));
    t.ipWarmup[slot] = { ...t.ipWarmup[slot], ...own };
  },
  recover_ip: (t, params, ips) => recoverIp(t, requestBodies.recover_ip.parse(params), ips),
  retire_ip: (t, params, ips) => {
    const p = requestBodies.retire_ip.parse(params);
    const k = findIp(t, ips, p.ip);
    if (k.role === "standby") throw new RequestRejected(`IP ${p.ip} of tenant ${t.id} is a standby IP; only sending IPs are retired`);
    const s = findServer(t, k.server);
    if (!s.retireIps.includes(p.ip)) s.retireIps.push(p.ip);
  },
  add_domain: (t, params) => {
    const p = requestBodies.add_domain.parse(params);
    if (t.domains.some((d) => d.name === p.name)) throw new RequestRejected(`tenant ${t.id} has the domain ${p.name} already`);
    const bad = registrableProblem(p.name);
    if (bad) throw new RequestRejected(`tenant ${t.id}: ${bad}`);
    // MailU signs every domain of a server with one selector: the new domain takes the tenant's.
    t.domains.push({
      name: p.name,
      dmarcPolicy: p.dmarcPolicy,
      dkimSelector: t.domains[0].dkimSelector,
      mailboxes: [],
      ...(p.zone ? { zone: p.zone } : {}),
    });
  },
  remove_domain: (t, params) => {
    const p = requestBodies.remove_domain.parse(params);
    const i = t.domains.findIndex((d) => d.name === p.domain);
    if (i < 0)
      throw new RequestRejected(`tenant ${t.id} has no domain ${p.domain} (its domains: ${t.domains.map((d) => d.name).join(", ")})`);
    if (i === 0)
      throw new RequestRejected(
        `${p.domain} is the first domain of tenant ${t.id}: the servers' host names (mx1.${p.domain}) live under it, so it stays; remove another domain`,
      );
    t.domains.splice(i, 1);
    for (const s of t.servers) if (s.domainIps) delete s.domainIps[p.domain];
  },
  add_mailbox: (t, params) => {
    const p = requestBodies.add_mailbox.parse(params);
    const d = t.domains.find((x) => x.name === p.domain);
    if (!d)
      throw new RequestRejected(
        `tenant ${t.id} has no domain ${p.domain} (its domains: ${t.domains.map((x) => x.name).join(", ")}); add the domain first`,
      );
    if (d.mailboxes.some((m) => m.localPart === p.localPart))
      throw new RequestRejected(`tenant ${t.id} has the mailbox ${p.localPart}@${p.domain} already (rotate its password with …/rotate)`);
    d.mailboxes.push({ localPart: p.localPart, quotaMb: p.quotaMb, enabled: p.enabled, rotation: 0 });
  },
  change_mailbox: (t, params) => {
    const p = requestBodies.change_mailbox.parse(params);
    const { m } = findMailbox(t, p.address);
    if (p.quotaMb !== undefined) m.quotaMb = p.quotaMb;
    if (p.enabled !== undefined) m.enabled = p.enabled;
  },
  remove_mailbox: (t, params) => {
    const p = requestBodies.remove_mailbox.parse(params);
    const { d, i } = findMailbox(t, p.address);
    d.mailboxes.splice(i, 1);
  },
  rotate_mailbox: (t, params) => {
    const p = requestBodies.rotate_mailbox.parse(params);
    findMailbox(t, p.address).m.rotation += 1;
  },
  release_ip: (t, params, ips) => {
    const p = requestBodies.release_ip.parse(params);
    const k = findIp(t, ips, p.ip);
    const s = findServer(t, k.server);
    // Slots are numbered: lowering the count releases the last one, so only the last can go.
    const standby = k.role === "standby";
    const count = standby ? s.standbyIps : s.sendingIps;
    if (k.slot !== count) {
      const last = ips.find((i) => i.server === k.server && (i.role === "standby") === standby && i.slot === count);
      throw new RequestRejected(
        `IP ${p.ip} is ${standby ? "standby" : "sending"} slot ${k.slot} of ${count} on server ${s.name}; only the last slot (${last?.ip ?? "?"}) can be released. ` +
          `Release that one, or retire ${p.ip} (retire_ip) to replace it`,
      );
    }
    if (standby) s.standbyIps -= 1;
    else s.sendingIps -= 1;
    s.pausedIps = s.pausedIps.filter((x) => x !== p.ip);
    s.retireIps = s.retireIps.filter((x) => x !== p.ip);
  },
};

/**
 * The tenant config after the request, or RequestRejected saying why not. `ips` are the
 * tenant's IPs now (from its stack's outputs); needed by the requests that name an IP.
 */
export function changeTenant(before: Tenant, kind: SubmittableKind, params: unknown, ips: KnownIp[]): Tenant {
  const t = structuredClone(before);
  // A kind without a handler (none today; the type lists them all) leaves the config as it was, as the switch did.
  if (Object.hasOwn(CHANGES, kind)) CHANGES[kind](t, params, ips);
  return t;
}

/** recover_ip: the IP retired (replaced new-first) or sending again with a fresh warm-up. */
function recoverIp(t: Tenant, p: z.infer<typeof requestBodies.recover_ip>, ips: KnownIp[], today = new Date()): void {
  const k = findIp(t, ips, p.ip);
  const s = findServer(t, k.server);
  if (k.role === "standby")
    throw new RequestRejected(`IP ${p.ip} of tenant ${t.id} is a standby IP; only a sending or paused IP is recovered`);
  if (p.action === "retire") {
    if (!s.retireIps.includes(p.ip)) s.retireIps.push(p.ip);
    s.pausedIps = s.pausedIps.filter((x) => x !== p.ip);
    return;
  }
  if (k.role !== "paused")
    throw new RequestRejected(`IP ${p.ip} of tenant ${t.id} is sending, not paused; recover_ip resume brings back a paused IP (pause_ip)`);
  s.pausedIps = s.pausedIps.filter((x) => x !== p.ip);
  const slot = slotName(k);
  t.ipWarmup[slot] = { ...t.ipWarmup[slot], restartedOn: today.toISOString().slice(0, 10) };
}

/**
 * The checks a preview makes before anything is bought: the tenant schema and the pack's
 * tier and budget rules, with the pack's messages. Throws RequestRejected naming every problem.
 */
export function judgeTenant(stack: string, raw: unknown, ipMonthlyPriceUsd?: string | number, cfg: PolicyConfig = {}): Tenant {
  let t: Tenant;
  try {
    t = parseTenant(stack, raw, defaultPriceBook());
  } catch (e) {
    if (e instanceof TenantConfigError) throw new RequestRejected(e.lines.join("; "));
    throw e;
  }
  const plan = {
    tenant: t.id,
    tier: t.tier,
    monthlyBudgetUsd: t.monthlyBudgetUsd,
    servers: t.servers.length,
    sendingIps: t.servers.reduce((n, s) => n + billedIps(s), 0),
    projectedMonthlyUsd: declaredMonthlyCost(t, defaultPriceBook(), ipMonthlyPriceUsd).totalUsd,
    mailboxes: mailboxCount(t),
  };
  const problems = declaredPlanWithinLimits({ type: TENANT_PLAN, urn: `tenant-plan::${t.id}`, name: "tenant", props: plan }, cfg).map(
    (v) => v.message,
  );
  const { maxIpsPerServer } = limitsFor(t.tier, cfg);
  for (const s of t.servers)
    if (billedIps(s) > maxIpsPerServer)
      problems.push(
        `tenant ${t.id} (${t.tier}): server ${s.name} has ${billedIps(s)} sending IPs, the ${t.tier} tier allows ${maxIpsPerServer} per server; spread them over more servers`,
      );
  if (problems.length) throw new RequestRejected(problems.join("; "));
  return t;
}
