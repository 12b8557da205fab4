/**
 * MailuInstall: MailU on one server, over SSH to its main IP, in three steps
 * that each rerun only when what they read changes:
 *   - `mailu`:    mailu.env, docker-compose.yml, the postfix override and the
 *                 DKIM keys, then `docker compose up -d` (after the A records
 *                 exist, since TLS_FLAVOR=letsencrypt asks for certificates);
 *   - `network`:  the sending IPs on the NIC (netplan) and outbound routing
 *                 through them (SNAT rules, or Docker's host_ipv4 for one IP);
 *   - `accounts`: the domains and the postmaster, through MailU's CLI.
 * The MailU secret key, API token and postmaster password come from
 * @pulumi/random; they reach the server on stdin and are masked in output.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Command, Connection } from "../providers/ssh";
import { BackupSettings, MailuBackup } from "./mailu-backup";
import { MailuConfig, composeFile, mailuEnv, netplanFile, postfixOverride, snatRules } from "./mailu-files";
import {
  MAILU_DIR,
  NETPLAN_FILE,
  OUTBOUND_SCRIPT,
  OUTBOUND_UNIT,
  RemoteFile,
  accountsInput,
  accountsScript,
  fileBundle,
  mailuConfigScript,
  networkScript,
  outboundUnit,
} from "./mailu-scripts";

export interface MailuDomain {
  name: string;
  dkimSelector: string;
  /** Secret: the DKIM private key (PEM) MailU signs with. */
  dkimPrivateKeyPem: pulumi.Input<string>;
}

export interface MailuInstallArgs {
  /** For messages: the tenant and server, e.g. acme / mx1. */
  tenant: string;
  server: string;
  /** The server's host name: SMTP banner, HELO, and what its main IP's A record names. */
  hostname: string;
  /** Other names MailU serves (TLS certificate), e.g. mta-sts.<domain>. */
  extraHostnames?: string[];
  mainIp: pulumi.Input<string>;
  /** Every IP of the server besides its main IP: sending, standby and paused (all on the NIC). */
  nicIps: pulumi.Input<string>[];
  /** The IPs mail leaves from, round robin (one entry per place: the count is known up front). */
  outboundIps: pulumi.Input<string>[];
  /** The first is MailU's primary domain. */
  domains: MailuDomain[];
  /** How to log in: the server's root password and/or a private key (secrets). */
  ssh: { port?: number; user?: string; password?: pulumi.Input<string>; privateKey?: pulumi.Input<string> };
  /** Messages a day one sending account may send. */
  messagesPerDay?: number;
  /** Backups of MailU's data (./mailu-backup.ts); a step of its own that runs before MailU starts. */
  backup?: { settings: BackupSettings; env: pulumi.Input<Record<string, string>> };
}

const POSTMASTER = "admin";

/** Letters and digits only: MailU interpolates some of these into shell commands (reference §1). */
const generated = (name: string, length: number, parent: pulumi.Resource) =>
  new random.RandomPassword(name, { length, special: false }, { parent });

const dependsOnList = (d: pulumi.ComponentResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] =>
  d === undefined ? [] : Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];

export class MailuInstall extends pulumi.ComponentResource {
  readonly mailu: Command;
  readonly network: Command;
  readonly accounts: Command;
  readonly backup?: MailuBackup;
  /** Secret: the postmaster's password (`admin@<first domain>`). */
  readonly postmasterPassword: pulumi.Output<string>;
  readonly postmaster: string;

  constructor(name: string, args: MailuInstallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailuInstall", name, {}, opts);
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
    // MailU's files read the sending IPs only for Docker's host_ipv4 (one IP); with several, the
    // addresses are the network step's alone, so a new IP does not touch (or restart) MailU.
    const composeIps = args.outboundIps.length === 1 ? args.outboundIps : args.outboundIps.map(() => "0.0.0.0");
    const config = pulumi
      .all([args.mainIp, pulumi.all(composeIps), secretKey.result, apiToken.result])
      .apply(([mainIp, sendingIps, sk, token]): MailuConfig => ({
        domain: args.domains[0].name,
        hostnames: [args.hostname, ...(args.extraHostnames ?? [])],
        mainIp,
        sendingIps,
        dkimSelector: args.domains[0].dkimSelector,
        tlsFlavor: "letsencrypt",
        messagesPerDay: args.messagesPerDay ?? 5000,
        secretKey: sk,
        apiToken: token,
      }));
    const where = `${args.server} (${args.tenant})`;
    const redact = [secretKey.result, apiToken.result, password.result];
    const defaults = { connection, redact };

    // A rebuilt server gets its newest snapshot back before MailU's containers start.
    if (args.backup)
      this.backup = new MailuBackup(
        `${name}-backup`,
        { tenant: args.tenant, server: args.server, hostname: args.hostname, connection, redact, ...args.backup },
        { parent: this },
      );

    const dkim = pulumi.all(args.domains.map((d) => d.dkimPrivateKeyPem));
    const mailuFiles = pulumi.all([config, dkim]).apply(([c, keys]) =>
      fileBundle([
        { path: `${MAILU_DIR}/mailu.env`, content: mailuEnv(c), mode: "0600" },
        { path: `${MAILU_DIR}/docker-compose.yml`, content: composeFile(c), mode: "0644" },
        { path: `${MAILU_DIR}/overrides/postfix/postfix.cf`, content: postfixOverride(c), mode: "0644" },
        ...args.domains.map((d, i): RemoteFile => ({
          path: `${MAILU_DIR}/dkim/${d.name}.${d.dkimSelector}.key`,
          content: keys[i],
          mode: "0600",
        })),
      ]),
    );
    this.mailu = new Command(
      `${name}-mailu`,
      {
        ...defaults,
        description: `MailU files and containers on ${where}`,
        create: mailuConfigScript(),
        stdin: pulumi.secret(mailuFiles),
      },
      { parent: this, dependsOn: [...dependsOnList(opts?.dependsOn), ...(this.backup ? [this.backup.command] : [])] },
    );

    // A pending IP order has no address yet (""): it joins the NIC and the rotation once assigned.
    const assigned = (ips: string[]) => ips.filter((ip) => ip !== "");
    const networkFiles = pulumi
      .all([pulumi.all(args.nicIps).apply(assigned), pulumi.all(args.outboundIps).apply(assigned)])
      .apply(([nicIps, outboundIps]) =>
        fileBundle([
          { path: NETPLAN_FILE, content: netplanFile({ sendingIps: nicIps }), mode: "0600" },
          { path: OUTBOUND_SCRIPT, content: snatRules({ sendingIps: outboundIps }), mode: "0700" },
          { path: OUTBOUND_UNIT, content: outboundUnit(), mode: "0644" },
        ]),
      );
    this.network = new Command(
      `${name}-network`,
      {
        ...defaults,
        description: `sending IPs and outbound routing on ${where}`,
        create: networkScript(),
        // Only addresses, so it stays plain and a preview shows the change.
        stdin: networkFiles,
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.accounts = new Command(
      `${name}-accounts`,
      {
        ...defaults,
        description: `MailU domains and postmaster on ${where}`,
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

    this.registerOutputs({ postmaster: this.postmaster });
  }
}
