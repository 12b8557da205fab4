/**
 * The tenant program: one stack per tenant. It reads the tenant from stack
 * config, checks it (all problems at once, nothing created on any): the config alone first
 * (shape, tier limits, budget, settings), then against the Hostwinds account; then records
 * the tenant's plan for policies, and builds one MailServer per server.
 * Outputs are what a user and the pipeline read: servers, sending IPs, the
 * monthly cost broken down, and a warm-up plan per sending IP.
 */
import * as pulumi from "@pulumi/pulumi";
import { MailDomain } from "../components/mail-domain";
import { backendFingerprint, ownerMark } from "../providers/model/owner";
import { MailServer, sendingHostname, standbyHostname } from "../components/mail-server";
import { MAILU_VERSION } from "../components/mailu-files";
import { MailuInstall } from "../components/mailu-install";
import { parseBackupSettings, repositoryHasPassword } from "../components/mailu-backup";
import { BackupConfigError } from "../components/backup-scripts";
import { stopRun } from "../components/stop-run";
import { warmupSchedule } from "../providers/model/warmup";
import { monthlyCost } from "../providers/model/pricing";
import { TenantPlan } from "../providers/tenant";
import {
  TenantConfigError,
  billedIps,
  declaredMonthlyCost,
  limitProblems,
  parseTenant,
  problemLines,
  rawTenantValue,
} from "../providers/model/tenant";
import { HostwindsClient } from "../providers/hostwinds/client";
import { accountProblems } from "../providers/hostwinds/account-check";
import { SettingsError, clientOptions, readSettings } from "../providers/hostwinds/settings";

const SECRET_KEYS = ["hostwinds:apiKey", "cloudflare:apiToken", "penguinmails-infra:sshPrivateKey", "penguinmails-infra:backupEnv"];

/** Whether the stack's config holds this key encrypted (the language host lists secret keys for the program). */
function isSecretConfig(key: string): boolean {
  try {
    return (JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS || "[]") as string[]).includes(key);
  } catch {
    return false;
  }
}

export = async () => {
  const stack = pulumi.getStack();
  const config = new pulumi.Config();
  const stop = (lines: string[], what: string) =>
    stopRun([...lines.map((l) => `stack ${stack}: ${l}`), `stack ${stack}: ${what}; nothing was bought or created`]);
  const ipPriceSetting = pulumi.runtime.getConfig("hostwinds:ipMonthlyPriceUsd") ?? process.env.HOSTWINDS_IP_MONTHLY_PRICE_USD;

  // 1. The config alone (no call to anything): shape, cross-field rules, the tier's limits and the budget.
  const raw = rawTenantValue(config.get("tenant"));
  let tenant;
  try {
    tenant = parseTenant(stack, raw);
  } catch (e) {
    if (!(e instanceof TenantConfigError)) throw e;
    return stop(e.lines, `${e.lines.length} problem${e.lines.length > 1 ? "s" : ""} in the tenant config (above)`);
  }
  const overLimits = problemLines(raw, limitProblems(tenant, ipPriceSetting));
  if (overLimits.length)
    return stop(overLimits, `the tenant config is over its ${tenant.tier} tier's limits or its budget (above), refused by the program`);
  for (const key of SECRET_KEYS) {
    if (pulumi.runtime.getConfig(key) !== undefined && !isSecretConfig(key)) {
      return stop(
        [`${key} is in plain text in the stack's config; run \`pulumi config set --secret ${key} <value> --stack ${stack}\``],
        key,
      );
    }
  }
  let settings;
  try {
    settings = readSettings((k) => pulumi.runtime.getConfig(k));
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    return stop([e.message], "the Hostwinds settings are wrong (above)");
  }

  // 2. The config against the Hostwinds account: catalogue and servers read once, nothing bought.
  let inAccount;
  try {
    inAccount = problemLines(raw, await accountProblems(tenant, stack, new HostwindsClient(clientOptions(settings))));
  } catch (e) {
    return stop([`could not read the Hostwinds account to check the config: ${(e as Error).message}`], "the config is unchecked");
  }
  if (inAccount.length)
    return stop(
      inAccount,
      `${inAccount.length} problem${inAccount.length > 1 ? "s" : ""} in the tenant config against the Hostwinds account (above)`,
    );

  // Backups of every server's MailU data (components/mailu-backup.ts), when the stack names a repository.
  let backup: ReturnType<typeof parseBackupSettings> | undefined;
  if (config.getObject("backup") !== undefined) {
    try {
      backup = parseBackupSettings(stack, config.getObject("backup"), config.getObject("backupEnv"));
    } catch (e) {
      if (!(e instanceof BackupConfigError)) throw e;
      return stopRun([`${e.message}. Nothing was created.`]);
    }
    if (repositoryHasPassword(backup.settings.repository) && !isSecretConfig("penguinmails-infra:backup"))
      return stopRun([
        `stack ${stack}: penguinmails-infra:backup.repository has a password in its URL and is in plain text; set it with \`pulumi config set --secret --path backup.repository <url> --stack ${stack}\`. Nothing was created.`,
      ]);
  }
  const backupEnv = backup ? pulumi.secret(backup.env) : undefined;

  // What the config asks for, priced with the checked-in price list, so the policy pack can refuse
  // it on the TenantPlan; every server depends on the plan, so a refusal stops the run before buying.
  const declared = declaredMonthlyCost(tenant, ipPriceSetting);
  const plan = new TenantPlan("tenant", {
    tenant: tenant.id,
    tier: tenant.tier,
    monthlyBudgetUsd: tenant.monthlyBudgetUsd,
    servers: tenant.servers.length,
    sendingIps: tenant.servers.reduce((n, s) => n + billedIps(s), 0),
    projectedMonthlyUsd: declared.totalUsd,
  });
  const mailDomain = tenant.domains[0].name;
  const servers = tenant.servers.map((s) => ({
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
        adoptIps: s.adoptIps,
        retireIps: s.retireIps,
        standbyIps: s.standbyIps,
        pausedIps: s.pausedIps,
      },
      { dependsOn: [plan] },
    ),
  }));

  // DNS: A records for every host name live under the first domain; every domain gets MX (to the
  // first server), SPF covering every sending IP, DKIM, DMARC, client autoconfig, MTA-STS and TLS-RPT.
  const hosts = servers.flatMap(({ config: c, server }) => [
    { hostname: server.hostname, ip: server.mainIp },
    ...server.ips.map((ip, i) => ({ hostname: sendingHostname(c.name, i + 1, mailDomain), ip: ip.ip })),
    ...server.standby.map((ip, i) => ({ hostname: standbyHostname(c.name, i + 1, mailDomain), ip: ip.ip })),
  ]);
  // Standby IPs are in SPF already, so switching to one needs no DNS change.
  // SPF lists only addresses the stack holds: a pending IP order ("" until Hostwinds assigns it) is left out.
  const allSendingIps = servers.flatMap(({ server }) => [...server.ips, ...server.standby].map((ip) => ip.ip));
  // Every DNS record names its owner (backend, project, stack, tenant): records of another owner in a shared zone are never touched.
  const dnsOwner = ownerMark({ backend: backendFingerprint(), project: pulumi.getProject(), stack, tenant: tenant.id });
  const domains = tenant.domains.map(
    (d, i) =>
      new MailDomain(d.name, {
        zone: tenant.zone,
        domain: d.name,
        mailHost: servers[0].server.hostname,
        hosts: i === 0 ? hosts : [],
        sendingIps: allSendingIps,
        dkimSelector: d.dkimSelector,
        dmarcPolicy: d.dmarcPolicy,
        owner: dnsOwner,
      }),
  );

  // MailU on every server, over SSH to its main IP, once the domains' records exist (Let's Encrypt needs the A records).
  const installs =
    config.getBoolean("installMailu") === false
      ? []
      : servers.map(
          ({ config: c, server }, i) =>
            new MailuInstall(
              `${c.name}-mailu`,
              {
                tenant: tenant.id,
                server: c.name,
                hostname: server.hostname,
                mainIp: server.mainIp,
                extraHostnames: i === 0 ? tenant.domains.flatMap((d) => [`autoconfig.${d.name}`, `mta-sts.${d.name}`]) : [],
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
                // The relay holds each IP to its volume of the day (the `warmup` output's plan).
                warmup: warmupSchedule(tenant.warmup).map((d) => d.maxMessages),
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
                backup: backup && backupEnv ? { settings: backup.settings, env: backupEnv } : undefined,
              },
              { parent: server, dependsOn: domains },
            ),
        );

  const ipPrice = servers.flatMap((s) => [...s.server.ips, ...s.server.standby].map((ip) => ip.monthlyPriceUsd));
  const cost = pulumi
    .all([pulumi.all(servers.map((s) => s.server.serverMonthlyUsd)), pulumi.all(ipPrice)])
    .apply(([serverPrices, ipPrices]) =>
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

  const schedule = warmupSchedule(tenant.warmup);
  const sending = pulumi.all(servers.map(({ server }) => server.sendingIps)).apply((l) => l.flat());
  const standby = pulumi.all(servers.map(({ server }) => server.standbyIps)).apply((l) => l.flat());
  return {
    tenant: tenant.id,
    tier: tenant.tier,
    monthlyBudgetUsd: tenant.monthlyBudgetUsd,
    servers: servers.map(({ server }, i) => ({
      name: server.hostname,
      serviceId: server.serviceId,
      mainIp: server.mainIp,
      sendingIps: server.sendingIps,
      standbyIps: server.standbyIps,
      outboundIps: pulumi.all(server.outboundIps),
      ...(installs[i]
        ? { mailu: { version: MAILU_VERSION, postmaster: installs[i].postmaster, postmasterPassword: installs[i].postmasterPassword } }
        : {}),
      ...(installs[i]?.backup && backup
        ? {
            backup: {
              // Without any password in the URL; the secret `access` is what verify and fleet restore open it with.
              repository: installs[i].backup!.repository,
              schedule: backup.settings.schedule,
              maxAgeHours: backup.settings.maxAgeHours,
              access: pulumi.secret(
                pulumi
                  .all([installs[i].backup!.repositoryUrl, installs[i].backup!.password, backupEnv!])
                  .apply(([repository, password, env]) => ({ repository, password, env })),
              ),
            },
          }
        : {}),
    })),
    sendingIps: sending.apply((l) => l.map((s) => s.ip)),
    monthlyCostUsd: cost,
    dnsRecords: pulumi
      .all(domains.map((d) => d.records))
      .apply((l) =>
        l
          .flat()
          .map((r) => ({ type: r.type, name: r.name, content: r.content, ...(r.priority !== undefined ? { priority: r.priority } : {}) })),
      ),
    // Day 1 is the day the IP was got, so a replacement IP starts its warm-up over.
    // Standby IPs warm too: they are in the plan from the day they were got.
    warmup: pulumi.all([sending, standby]).apply(([l, sb]) =>
      [...l.map((s) => ({ ...s, role: "sending" })), ...sb.map((s) => ({ ...s, role: "standby" }))].map((s) => ({
        ip: s.ip,
        hostname: s.hostname,
        role: s.role,
        since: s.since,
        schedule,
      })),
    ),
  };
};
