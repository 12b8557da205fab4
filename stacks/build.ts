/**
 * The tenant program's building, once the config is judged (stacks/judge.ts): the tenant's plan
 * for the policy pack, one MailServer per server, the domains' DNS, MailU on every server, and the
 * outputs a user and the pipeline read (servers, sending IPs, the monthly cost broken down, a
 * warm-up plan per sending IP). Resources are registered in this order: plan, servers, domains, installs.
 */
import * as pulumi from "@pulumi/pulumi";
import { MailDomain } from "../components/mail-domain";
import { backendFingerprint, ownerMark } from "../providers/model/owner";
import { webHostnames } from "../components/mail-records";
import { MailServer, sendingHostname, standbyHostname } from "../components/mail-server";
import { MAILU_VERSION } from "../components/mailu-files";
import { MailuInstall } from "../components/mailu-install";
import type { BackupSettings } from "../components/mailu-backup";
import { ipWarmup } from "../providers/model/warmup";
import { mailboxStates } from "../providers/model/mailboxes";
import { PriceBook, monthlyCost } from "../providers/model/pricing";
import { TenantPlan } from "../providers/tenant";
import { Tenant, billedIps, declaredMonthlyCost, mailboxCount } from "../providers/model/tenant";

/** What building needs besides the tenant. */
export interface BuildOptions {
  /** The stack's own config (`installMailu`, `sshPort`, `sshPrivateKey`). */
  config: pulumi.Config;
  /** The checked-in price list the declared cost is priced with. */
  book: PriceBook;
  ipPriceSetting: string | undefined;
  backup?: { settings: BackupSettings; env: Record<string, string> };
  /** Each domain's Cloudflare zone, in the order of `tenant.domains` (default: the tenant's zone). */
  domainZones?: string[];
}

interface Built {
  config: Tenant["servers"][number];
  server: MailServer;
}
type Backup = { settings: BackupSettings; env: pulumi.Output<Record<string, string>> };

/**
 * What the config asks for, priced with the checked-in price list, so the policy pack can refuse
 * it on the TenantPlan; every server depends on the plan, so a refusal stops the run before buying.
 */
function tenantPlan(tenant: Tenant, o: BuildOptions): TenantPlan {
  const declared = declaredMonthlyCost(tenant, o.book, o.ipPriceSetting);
  return new TenantPlan("tenant", {
    tenant: tenant.id,
    tier: tenant.tier,
    monthlyBudgetUsd: tenant.monthlyBudgetUsd,
    servers: tenant.servers.length,
    sendingIps: tenant.servers.reduce((n, s) => n + billedIps(s), 0),
    projectedMonthlyUsd: declared.totalUsd,
    mailboxes: mailboxCount(tenant),
  });
}

function mailServers(tenant: Tenant, plan: TenantPlan, config: pulumi.Config): Built[] {
  const mailDomain = tenant.domains[0].name;
  // With MailU installed, an image change backs its data up over SSH first (MailServer.osImage).
  const ssh =
    config.getBoolean("installMailu") === false
      ? undefined
      : { port: config.getNumber("sshPort"), privateKey: config.getSecret("sshPrivateKey") };
  return tenant.servers.map((s) => ({
    config: s,
    server: new MailServer(
      s.name,
      {
        tenant: tenant.id,
        name: s.name,
        location: s.location,
        plan: s.plan,
        billingCycle: s.billingCycle,
        image: s.image,
        sshKeys: s.sshKeys,
        sendingIps: s.sendingIps,
        mailDomain,
        adoptServiceId: s.adoptServiceId,
        allowReplace: s.allowReplace,
        adoptIps: s.adoptIps,
        retireIps: s.retireIps,
        standbyIps: s.standbyIps,
        pausedIps: s.pausedIps,
        ssh,
      },
      { dependsOn: [plan] },
    ),
  }));
}

/**
 * DNS: A records for every host name live under the first domain, in the tenant's zone; every domain
 * gets, in its own zone, MX (to the first server), SPF covering every sending IP, DKIM, DMARC, client
 * autoconfig, MTA-STS and TLS-RPT.
 */
function mailDomains(tenant: Tenant, servers: Built[], zones: string[] = []): MailDomain[] {
  const mailDomain = tenant.domains[0].name;
  const hosts = servers.flatMap(({ config: c, server }) => [
    { hostname: server.hostname, ip: server.mainIp },
    ...server.ips.map((ip, i) => ({ hostname: sendingHostname(c.name, i + 1, mailDomain), ip: ip.ip })),
    ...server.standby.map((ip, i) => ({ hostname: standbyHostname(c.name, i + 1, mailDomain), ip: ip.ip })),
  ]);
  // Standby IPs are in SPF already, so switching to one needs no DNS change.
  // SPF lists only addresses the stack holds: a pending IP order ("" until Hostwinds assigns it) is left out.
  const allSendingIps = servers.flatMap(({ server }) => [...server.ips, ...server.standby].map((ip) => ip.ip));
  // Every DNS record names its owner (backend, project, stack, tenant): records of another owner in a shared zone are never touched.
  const owner = ownerMark({ backend: backendFingerprint(), project: pulumi.getProject(), stack: pulumi.getStack(), tenant: tenant.id });
  return tenant.domains.map(
    (d, i) =>
      new MailDomain(d.name, {
        zone: zones[i] || tenant.zone,
        hostZone: tenant.zone,
        domain: d.name,
        mailHost: servers[0].server.hostname,
        hosts: i === 0 ? hosts : [],
        sendingIps: allSendingIps,
        dkimSelector: d.dkimSelector,
        dmarcPolicy: d.dmarcPolicy,
        owner,
      }),
  );
}

/** MailU on every server, over SSH to its main IP, once the domains' records exist (Let's Encrypt needs the A records). */
function mailuInstalls(tenant: Tenant, servers: Built[], domains: MailDomain[], config: pulumi.Config, backup?: Backup): MailuInstall[] {
  if (config.getBoolean("installMailu") === false) return [];
  const mailDomain = tenant.domains[0].name;
  return servers.map(
    ({ config: c, server }, i) =>
      new MailuInstall(
        `${c.name}-mailu`,
        {
          tenant: tenant.id,
          server: c.name,
          hostname: server.hostname,
          mainIp: server.mainIp,
          // Every name clients reach over HTTPS at the mail host needs to be on its certificate.
          extraHostnames: i === 0 ? tenant.domains.flatMap((d) => webHostnames(d.name)) : [],
          sendingIps: server.ips.map((ip, k) => ({
            slot: `${c.name}-ip${k + 1}`,
            ip: ip.ip,
            hostname: sendingHostname(c.name, k + 1, mailDomain),
            since: ip.since,
          })),
          standbyIps: server.standby.map((ip, k) => ({
            slot: `${c.name}-standby${k + 1}`,
            ip: ip.ip,
            hostname: standbyHostname(c.name, k + 1, mailDomain),
            since: ip.since,
          })),
          // The relay holds each IP to its volume of the day: the tenant's warm-up, or the IP's own (`ipWarmup`).
          warmup: {
            default: ipWarmup(tenant.warmup),
            bySlot: Object.fromEntries(Object.entries(tenant.ipWarmup).map(([slot, own]) => [slot, ipWarmup(tenant.warmup, own)])),
          },
          pausedIps: c.pausedIps,
          domainIps: c.domainIps,
          mxHosts: [servers[0].server.hostname],
          domains: tenant.domains.map((d, j) => ({
            name: d.name,
            dkimSelector: d.dkimSelector,
            dkimPrivateKeyPem: domains[j].dkim.privateKeyPem,
          })),
          ssh: {
            port: config.getNumber("sshPort"),
            password: server.instance.rootPassword,
            privateKey: config.getSecret("sshPrivateKey"),
          },
          backup,
          os: { image: server.osImage, generation: server.osGeneration },
          // The mailboxes live on the first server, the one MX names (IMAP and submission there).
          mailboxes: i === 0 ? mailboxStates(tenant.domains) : undefined,
        },
        { parent: server, dependsOn: domains },
      ),
  );
}

/** The monthly cost of what the stack holds, at the prices Hostwinds charged (the servers' and IPs' own outputs). */
function costOutput(servers: Built[]) {
  const ipPrice = servers.flatMap((s) => [...s.server.ips, ...s.server.standby].map((ip) => ip.monthlyPriceUsd));
  return pulumi.all([pulumi.all(servers.map((s) => s.server.serverMonthlyUsd)), pulumi.all(ipPrice)]).apply(([serverPrices, ipPrices]) =>
    monthlyCost(
      servers.map((s, i) => ({
        name: s.config.name,
        plan: s.config.plan,
        billingCycle: s.config.billingCycle,
        sendingIps: billedIps(s.config),
        serverMonthlyUsd: serverPrices[i],
      })),
      { plans: [], ipMonthlyPriceUsd: ipPrices[0] ?? 0 },
    ),
  );
}

/** One server's output: its addresses, its MailU's postmaster, and where its backups go. */
function serverOutput(server: MailServer, install: MailuInstall | undefined, backup: Backup | undefined) {
  return {
    name: server.hostname,
    serviceId: server.serviceId,
    mainIp: server.mainIp,
    sendingIps: server.sendingIps,
    standbyIps: server.standbyIps,
    outboundIps: pulumi.all(server.outboundIps),
    // Which IP each sending domain leaves from, and the IPs that carry none (the API and verify report them).
    ...(install ? { routes: install.routes } : {}),
    ...(install
      ? { mailu: { version: MAILU_VERSION, postmaster: install.postmaster, postmasterPassword: install.postmasterPassword } }
      : {}),
    ...(install?.backup && backup
      ? {
          backup: {
            // Without any password in the URL; the secret `access` is what verify and fleet restore open it with.
            repository: install.backup.repository,
            schedule: backup.settings.schedule,
            maxAgeHours: backup.settings.maxAgeHours,
            access: pulumi.secret(
              pulumi
                .all([install.backup.repositoryUrl, install.backup.password, backup.env])
                .apply(([repository, password, env]) => ({ repository, password, env })),
            ),
          },
        }
      : {}),
  };
}

/** One IP's warm-up as the outputs show it: the config's `ipWarmup` for its slot (its host name's first label), else the tenant's. */
function warmupOf(tenant: Tenant, hostname: string) {
  const w = ipWarmup(tenant.warmup, tenant.ipWarmup[hostname.split(".")[0]]);
  return {
    schedule: w.volumes.map((maxMessages, i) => ({ day: i + 1, maxMessages })),
    paused: w.paused,
    ceilingHolds: w.holdsAtEnd,
    ...(w.restartedOn ? { restartedOn: w.restartedOn } : {}),
  };
}

/** Registers the tenant's resources and returns the stack's outputs. */
export function buildTenant(tenant: Tenant, o: BuildOptions) {
  const backup = o.backup ? { settings: o.backup.settings, env: pulumi.secret(o.backup.env) } : undefined;
  const plan = tenantPlan(tenant, o);
  const servers = mailServers(tenant, plan, o.config);
  const domains = mailDomains(tenant, servers, o.domainZones);
  const installs = mailuInstalls(tenant, servers, domains, o.config, backup);

  const sending = pulumi.all(servers.map(({ server }) => server.sendingIps)).apply((l) => l.flat());
  const standby = pulumi.all(servers.map(({ server }) => server.standbyIps)).apply((l) => l.flat());
  return {
    tenant: tenant.id,
    tier: tenant.tier,
    monthlyBudgetUsd: tenant.monthlyBudgetUsd,
    servers: servers.map(({ server }, i) => serverOutput(server, installs[i], backup)),
    sendingIps: sending.apply((l) => l.map((s) => s.ip)),
    monthlyCostUsd: costOutput(servers),
    dnsRecords: pulumi
      .all(domains.map((d) => d.records))
      .apply((l) =>
        l
          .flat()
          .map((r) => ({ type: r.type, name: r.name, content: r.content, ...(r.priority !== undefined ? { priority: r.priority } : {}) })),
      ),
    // Day N is the N-th day the IP sent (the relay counts them), so an idle IP resumes where it stopped
    // and a replacement IP starts over. Standby IPs are in the plan too.
    // Where each mailbox logs in (the first server); the passwords only in the secret output below.
    mailboxes: mailboxStates(tenant.domains).map((m) => ({
      address: m.email,
      quotaMb: m.quotaBytes / (1024 * 1024),
      enabled: m.enabled,
      host: servers[0].server.hostname,
    })),
    mailboxPasswords: installs[0]?.mailboxPasswords ?? pulumi.secret({} as Record<string, string>),
    warmup: pulumi.all([sending, standby]).apply(([l, sb]) =>
      [...l.map((s) => ({ ...s, role: "sending" })), ...sb.map((s) => ({ ...s, role: "standby" }))].map((s) => ({
        ip: s.ip,
        hostname: s.hostname,
        role: s.role,
        since: s.since,
        ...warmupOf(tenant, s.hostname),
      })),
    ),
  };
}
