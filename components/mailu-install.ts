/**
 * MailuInstall: MailU on one server, over SSH to its main IP, in steps that
 * run in this order and each rerun only when what they read changes:
 *   - `packages`: what a stock Debian server lacks (Docker, Compose, Postfix,
 *                 iptables, ifupdown), from Debian's archive with apt-get;
 *   - `network`:  the sending IPs on the NIC, the firewall that keeps MailU's
 *                 containers off port 25, and the outbound relay (Debian's
 *                 Postfix: one transport per IP, chosen by sender domain;
 *                 ./outbound-relay.ts; each IP held to its warm-up volume of
 *                 the day, ./warmup-cap.ts). Adding, pausing or switching IPs
 *                 reruns this step only;
 *   - `mailu`:    mailu.env, docker-compose.yml, the overrides and the DKIM
 *                 keys, then `docker compose up -d` (after the A records
 *                 exist, since TLS_FLAVOR=letsencrypt asks for certificates);
 *   - `accounts`: the domains, report aliases and the postmaster, through MailU's CLI.
 * `backup` (./mailu-backup.ts, optional) is a step of its own, after `packages` and before `mailu`.
 * The MailU secret key, API token and postmaster password come from
 * @pulumi/random; they reach the server on stdin and are masked in output.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Command, Connection, Mailboxes } from "../providers/ssh";
import { MailboxState } from "../providers/model/mailboxes";
import { BackupSettings, MailuBackup } from "./mailu-backup";
import { MailuConfig, composeFile, mailuEnv, mtaStsOverride, postfixOverride } from "./mailu-files";
import {
  OutboundIp,
  firewallRules,
  interfacesFile,
  relayMainCf,
  relayMasterCf,
  relaySysctl,
  senderTransports,
  domainRoutes,
  idleIps,
  transportName,
} from "./outbound-relay";
import {
  WARMUP_JOB,
  WARMUP_PLAN,
  WARMUP_POLICY,
  WARMUP_SERVICE,
  WARMUP_TIMER,
  warmupJobScript,
  warmupPlan,
  warmupPolicyScript,
  warmupService,
  warmupTimer,
  WarmupPlanSpec,
} from "./warmup-cap";
import {
  FIREWALL_RULES,
  FIREWALL_UNIT,
  INTERFACES_TEMPLATE,
  MAILU_DIR,
  RELAY_MAIN_CF,
  RELAY_MASTER_CF,
  RELAY_SENDER_MAP,
  RemoteFile,
  SYSCTL_FILE,
  accountsInput,
  accountsScript,
  mailboxImportScript,
  fileBundle,
  firewallUnit,
  mailuConfigScript,
  networkScript,
  packagesScript,
} from "./mailu-scripts";

export interface MailuDomain {
  name: string;
  dkimSelector: string;
  /** Secret: the DKIM private key (PEM) MailU signs with. */
  dkimPrivateKeyPem: pulumi.Input<string>;
}

/** A sending or standby IP: its slot name (stable when the IP is replaced), address and PTR name. */
export interface MailuOutboundIp {
  slot: string;
  ip: pulumi.Input<string>;
  hostname: string;
  /** When the IP was got (ISO time): day 1 of its warm-up. */
  since: pulumi.Input<string>;
}

export interface MailuInstallArgs {
  /** For messages: the tenant and server, e.g. acme / mx1. */
  tenant: string;
  server: string;
  /** The server's host name: SMTP banner, and what its main IP's A record names. */
  hostname: string;
  /** Other names MailU serves (TLS certificate), e.g. mta-sts.<domain>. */
  extraHostnames?: string[];
  mainIp: pulumi.Input<string>;
  /** The IPs mail leaves from, in slot order; each sends with a HELO equal to its PTR name. */
  sendingIps: MailuOutboundIp[];
  /** Bought and on the NIC, sending only in a paused IP's place. */
  standbyIps?: MailuOutboundIp[];
  /** Sending IPs taken out of use (their domains move to a standby). */
  pausedIps?: string[];
  /** Domain → sending IP number (1-based); domains not named are spread over the sending IPs. */
  domainIps?: Record<string, number>;
  /** The first is MailU's primary domain. One DKIM selector for all (MailU's DKIM_SELECTOR is per server). */
  domains: MailuDomain[];
  /** The hosts MX points at, for the MTA-STS policy. */
  mxHosts: string[];
  /** How to log in: the server's root password and/or a private key (secrets). */
  ssh: { port?: number; user?: string; password?: pulumi.Input<string>; privateKey?: pulumi.Input<string> };
  /** The warm-up plan: each IP's daily volumes by the days it sent, paused or not (providers/model/warmup.ts), enforced by the relay. */
  warmup: WarmupPlanSpec;
  /** Messages a day one sending account may send. */
  messagesPerDay?: number;
  /** Backups of MailU's data (./mailu-backup.ts); a step of its own that runs before MailU starts. */
  backup?: { settings: BackupSettings; env: pulumi.Input<Record<string, string>> };
  /**
   * The server's image (MailServer.osImage) and its generation (MailServer.osGeneration): every step
   * runs after the image is in place and runs again when the generation changes (a reinstall: a fresh disk).
   */
  os?: { image: pulumi.Resource; generation: pulumi.Input<string[]> };
  /** Mailboxes this MailU holds; `rotation` is part of each password's keepers, so raising it makes a new one. */
  mailboxes?: Array<MailboxState & { rotation: number }>;
}

const POSTMASTER = "admin";

/** Letters and digits only: MailU interpolates some of these into shell commands (reference §1). */
const generated = (name: string, length: number, parent: pulumi.Resource) =>
  new random.RandomPassword(name, { length, special: false }, { parent });

const dependsOnList = (d: pulumi.ComponentResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] =>
  d === undefined ? [] : Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
/** What every SSH step of one install shares: the connection, the secrets masked, the OS generation as a trigger. */
type StepDefaults = { connection: pulumi.Output<Connection>; redact: pulumi.Output<string>[]; triggers?: pulumi.Input<string[]> };

/** A pending IP order has no address yet (""): it joins the NIC and the relay once assigned. */
const resolved = (ips: MailuOutboundIp[]): pulumi.Output<Array<OutboundIp & { since: string }>> =>
  pulumi
    .all(ips.map((s) => pulumi.all([s.slot, s.ip, s.hostname, s.since])))
    .apply((l) => l.map(([slot, ip, hostname, since]) => ({ slot, ip, hostname, since })).filter((s) => s.ip !== ""));

export class MailuInstall extends pulumi.ComponentResource {
  readonly packages: Command;
  readonly network: Command;
  readonly mailu: Command;
  readonly accounts: Command;
  readonly backup?: MailuBackup;
  /** Secret: the postmaster's password (`admin@<first domain>`). */
  readonly postmasterPassword: pulumi.Output<string>;
  readonly postmaster: string;
  /** Which IP each sending domain leaves from, and the IPs mail could leave from that carry none (billed, sending nothing). */
  readonly routes: pulumi.Output<{ domains: Array<{ domain: string; ip: string }>; idleIps: string[] }>;
  /** The mailboxes' step: one SSH round trip per change, only for the mailboxes that changed. */
  readonly mailboxes?: Mailboxes;
  /** Secret: each mailbox's password by address, made here with @pulumi/random. */
  readonly mailboxPasswords: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: MailuInstallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailuInstall", name, {}, opts);
    const selectors = [...new Set(args.domains.map((d) => d.dkimSelector))];
    if (selectors.length > 1)
      throw new Error(
        `MailU on ${args.server} (${args.tenant}) signs with one DKIM selector (DKIM_SELECTOR), but the domains use ${selectors.join(", ")}`,
      );
    const secretKey = generated(`${name}-secret-key`, 32, this);
    const apiToken = generated(`${name}-api-token`, 32, this);
    const password = generated(`${name}-postmaster-password`, 24, this);
    this.postmaster = `${POSTMASTER}@${args.domains[0].name}`;
    this.postmasterPassword = password.result;

    const connection: pulumi.Output<Connection> = pulumi.output({
      host: args.mainIp,
      port: args.ssh.port ?? 22,
      user: args.ssh.user ?? "root",
      password: args.ssh.password,
      privateKey: args.ssh.privateKey,
    });
    const where = `${args.server} (${args.tenant})`;
    const redact = [secretKey.result, apiToken.result, password.result];
    const defaults = { connection, redact, ...(args.os ? { triggers: args.os.generation } : {}) };
    const afterImage = args.os ? [args.os.image] : [];

    this.packages = new Command(
      `${name}-packages`,
      { ...defaults, description: `Debian packages on ${where}`, create: packagesScript() },
      { parent: this, dependsOn: afterImage },
    );

    // A rebuilt server gets its newest snapshot back before MailU's containers start (after the packages:
    // one apt at a time).
    if (args.backup)
      this.backup = new MailuBackup(
        `${name}-backup`,
        {
          tenant: args.tenant,
          server: args.server,
          hostname: args.hostname,
          connection,
          redact,
          triggers: args.os?.generation,
          ...args.backup,
        },
        { parent: this, dependsOn: [this.packages] },
      );

    ({ routes: this.routes, network: this.network } = this.relayNetwork(name, args, defaults, where));

    this.mailu = this.mailuContainers(name, args, defaults, where, [secretKey.result, apiToken.result], opts);

    this.accounts = new Command(
      `${name}-accounts`,
      {
        ...defaults,
        description: `MailU domains, report addresses and postmaster on ${where}`,
        create: accountsScript(),
        stdin: pulumi.secret(
          password.result.apply((pw) =>
            accountsInput(
              args.domains.map((d) => d.name),
              POSTMASTER,
              pw,
            ),
          ),
        ),
      },
      { parent: this, dependsOn: [this.mailu] },
    );

    ({ passwords: this.mailboxPasswords, mailboxes: this.mailboxes } = this.mailboxSteps(name, args, connection, where));
    this.registerOutputs({ postmaster: this.postmaster });
  }

  /** The sending IPs, the outbound relay and the warm-up on the server: one step, after the packages. */
  private relayNetwork(name: string, args: MailuInstallArgs, defaults: StepDefaults, where: string) {
    const relays = pulumi.all([resolved(args.sendingIps), resolved(args.standbyIps ?? [])]).apply(([sending, standby]) => ({
      hostname: args.hostname,
      sending,
      standby,
      paused: args.pausedIps ?? [],
      domains: args.domains.map((d) => d.name),
      domainIps: args.domainIps,
    }));
    const routes = relays.apply((relay) => ({
      domains: domainRoutes(relay).map((r) => ({ domain: r.domain, ip: r.via.ip })),
      idleIps: idleIps(relay).map((s) => s.ip),
    }));
    const networkFiles = relays.apply((relay) => {
      const { sending, standby } = relay;
      return fileBundle([
        { path: INTERFACES_TEMPLATE, content: interfacesFile([...sending, ...standby].map((s) => s.ip)), mode: "0644" },
        { path: SYSCTL_FILE, content: relaySysctl(), mode: "0644" },
        { path: FIREWALL_RULES, content: firewallRules(), mode: "0644" },
        { path: FIREWALL_UNIT, content: firewallUnit(), mode: "0644" },
        { path: RELAY_MAIN_CF, content: relayMainCf(relay), mode: "0644" },
        { path: RELAY_MASTER_CF, content: relayMasterCf(relay), mode: "0644" },
        { path: RELAY_SENDER_MAP, content: senderTransports(relay), mode: "0644" },
        {
          path: WARMUP_PLAN,
          content: warmupPlan(
            [...sending, ...standby].map((s) => ({ slot: s.slot, transport: transportName(s.slot), since: s.since })),
            args.warmup,
          ),
          mode: "0644",
        },
        { path: WARMUP_POLICY, content: warmupPolicyScript(), mode: "0755" },
        { path: WARMUP_JOB, content: warmupJobScript(), mode: "0700" },
        { path: `/etc/systemd/system/${WARMUP_SERVICE}`, content: warmupService(), mode: "0644" },
        { path: `/etc/systemd/system/${WARMUP_TIMER}`, content: warmupTimer(), mode: "0644" },
      ]);
    });
    const network = new Command(
      `${name}-network`,
      {
        ...defaults,
        description: `sending IPs and the outbound relay on ${where}`,
        create: networkScript(),
        // Only addresses and names, so it stays plain and a preview shows the change.
        stdin: networkFiles,
      },
      { parent: this, dependsOn: [this.packages] },
    );
    return { routes, network };
  }

  /** MailU's files (config, compose, overrides, DKIM keys) and containers: after the network step and any restore. */
  private mailuContainers(
    name: string,
    args: MailuInstallArgs,
    defaults: StepDefaults,
    where: string,
    [secretKeyResult, apiTokenResult]: pulumi.Output<string>[],
    opts?: pulumi.ComponentResourceOptions,
  ): Command {
    const config = pulumi.all([args.mainIp, secretKeyResult, apiTokenResult]).apply(([mainIp, sk, token]): MailuConfig => ({
      domain: args.domains[0].name,
      hostnames: [args.hostname, ...(args.extraHostnames ?? [])],
      mainIp,
      dkimSelector: args.domains[0].dkimSelector,
      tlsFlavor: "letsencrypt",
      messagesPerDay: args.messagesPerDay ?? 5000,
      secretKey: sk,
      apiToken: token,
    }));
    const dkim = pulumi.all(args.domains.map((d) => d.dkimPrivateKeyPem));
    const mailuFiles = pulumi.all([config, dkim]).apply(([c, keys]) =>
      fileBundle([
        { path: `${MAILU_DIR}/mailu.env`, content: mailuEnv(c), mode: "0600" },
        { path: `${MAILU_DIR}/docker-compose.yml`, content: composeFile(c), mode: "0644" },
        { path: `${MAILU_DIR}/overrides/postfix/postfix.cf`, content: postfixOverride(c), mode: "0644" },
        { path: `${MAILU_DIR}/overrides/nginx/mta-sts.conf`, content: mtaStsOverride(args.mxHosts), mode: "0644" },
        ...args.domains.map((d, i): RemoteFile => ({
          path: `${MAILU_DIR}/dkim/${d.name}.${d.dkimSelector}.key`,
          content: keys[i],
          mode: "0600",
        })),
      ]),
    );
    // After the network step: the relay MailU hands mail to exists before MailU starts.
    return new Command(
      `${name}-mailu`,
      {
        ...defaults,
        description: `MailU files and containers on ${where}`,
        create: mailuConfigScript(),
        stdin: pulumi.secret(mailuFiles),
      },
      {
        parent: this,
        dependsOn: [this.network, ...dependsOnList(opts?.dependsOn), ...(this.backup ? [this.backup.command] : [])],
      },
    );
  }

  /** Each mailbox's password, and the step that holds the mailboxes in MailU (none when there are none). */
  private mailboxSteps(name: string, args: MailuInstallArgs, connection: pulumi.Output<Connection>, where: string) {
    const boxes = args.mailboxes ?? [];
    // A password per mailbox, letters and digits (they travel in MailU's YAML import); `rotation` in the
    // keepers makes a new one when the `rotate` request raises it, and nothing else does.
    const passwords = boxes.map(
      (m) =>
        new random.RandomPassword(
          `${name}-mailbox-${m.email.replace("@", "-at-")}`,
          { length: 24, special: false, keepers: { rotation: String(m.rotation) } },
          { parent: this },
        ),
    );
    const byAddress = pulumi.secret(
      pulumi.all(passwords.map((p) => p.result)).apply((l) => Object.fromEntries(boxes.map((m, i) => [m.email, l[i]]))),
    );
    // No mailboxes, no resource: removing the last one deletes it, and its delete removes them from MailU.
    const mailboxes =
      boxes.length > 0
        ? new Mailboxes(
            `${name}-mailboxes`,
            {
              description: `MailU mailboxes on ${where}`,
              connection,
              script: mailboxImportScript(),
              mailboxes: boxes.map((m) => ({ email: m.email, quotaBytes: m.quotaBytes, enabled: m.enabled })),
              passwords: byAddress,
            },
            { parent: this, dependsOn: [this.accounts] },
          )
        : undefined;
    return { passwords: byAddress, mailboxes };
  }
}
