/**
 * MailServer: one Hostwinds server and its sending IPs, each IP's reverse DNS
 * set to its own host name under the mail domain (the main IP's to the server's host name). (DNS records and the MailU
 * install join here; see docs/status.md.)
 */
import * as pulumi from "@pulumi/pulumi";
import * as hostwinds from "../providers/hostwinds";
import { stopRun } from "./stop-run";
import { DEFAULT_IMAGE } from "../providers/model/tenant";
import { Command } from "../providers/ssh";
import { NO_REINSTALL_SCRIPT, preReinstallScript } from "./backup-scripts";

export interface MailServerArgs {
  tenant: string;
  /** Logical name within the tenant, e.g. mx1; the server's host name is `<name>.<mailDomain>`. */
  name: string;
  location: number;
  plan: number;
  billingCycle: hostwinds.BillingCycle;
  /** A public image's name or a template UUID; undefined: DEFAULT_IMAGE for a new server, the one it has for a running one. */
  image?: string;
  sshKeys?: string[];
  /** How many secondary IPs send mail from this server. */
  sendingIps: number;
  /** The domain the server's host names live under. */
  mailDomain: string;
  adoptServiceId?: number;
  /** Accept replacing the server when a change cannot be made in place (refused otherwise). */
  allowReplace?: boolean;
  adoptIps?: string[];
  /** Sending IPs to replace: each is swapped for a new IP, bought before it is released. */
  retireIps?: string[];
  /** Standby IPs: bought, with rDNS, A record and SPF entry, ready to send but out of the rotation. */
  standbyIps?: number;
  /**
   * How the stack logs in to the server (MailU installed): then an image change backs MailU's data up
   * before the reinstall. Without it, nothing is installed on the server and nothing is backed up.
   */
  ssh?: { port?: number; privateKey?: pulumi.Input<string> };
  /** Sending IPs taken out of the rotation at once (an emergency); a standby IP takes each one's place. */
  pausedIps?: string[];
}

export interface SendingIp {
  ip: string;
  hostname: string;
  monthlyPriceUsd: number;
  since: string;
}

/** The host name of sending IP n (1-based) of a server: what its rDNS says and its A record resolves. */
export const sendingHostname = (server: string, n: number, mailDomain: string) => `${server}-ip${n}.${mailDomain}`;
/** The host name of standby IP n (1-based). */
export const standbyHostname = (server: string, n: number, mailDomain: string) => `${server}-standby${n}.${mailDomain}`;

/** Each IP slot as the stack's outputs list it: address, hostname, price, since when. */
const describe = (ips: hostwinds.SecondaryIp[]) =>
  pulumi
    .all(ips.map((ip) => pulumi.all([ip.ip, ip.rdns, ip.monthlyPriceUsd, ip.since])))
    .apply((list) => list.map(([ip, hostname, monthlyPriceUsd, since]) => ({ ip, hostname, monthlyPriceUsd, since })));

/**
 * The IPs mail leaves from: the sending IPs not paused, then as many standby IPs as were paused.
 * A paused address that is not one of the server's sending IPs is a mistake in the config: it is
 * reported (and pauses nothing).
 */
export function outboundRotation(
  server: string,
  sending: string[],
  standby: string[],
  paused: string[],
): { rotation: string[]; problem?: string } {
  const unknown = paused.filter((ip) => !sending.includes(ip));
  const active = sending.filter((ip) => !paused.includes(ip));
  const rotation = [...active, ...standby.slice(0, sending.length - active.length)];
  if (!unknown.length) return { rotation };
  return {
    rotation,
    problem: `server ${server}: pausedIps ${unknown.join(", ")} ${unknown.length > 1 ? "are" : "is"} not among its sending IPs (${sending.join(", ") || "none"}); fix pausedIps in the tenant config`,
  };
}

export class MailServer extends pulumi.ComponentResource {
  readonly instance: hostwinds.Instance;
  readonly ips: hostwinds.SecondaryIp[];
  readonly standby: hostwinds.SecondaryIp[];
  /** The IPs mail leaves from, one entry per place in the rotation (its length is known up front). */
  readonly outboundIps: pulumi.Output<string>[];
  readonly hostname: string;
  readonly serviceId: pulumi.Output<number>;
  readonly mainIp: pulumi.Output<string>;
  readonly sendingIps: pulumi.Output<SendingIp[]>;
  readonly standbyIps: pulumi.Output<SendingIp[]>;
  readonly serverMonthlyUsd: pulumi.Output<number>;
  /** The image the server runs: a change is a reinstall on the same server (backup before, when MailU is installed). */
  readonly osImage: hostwinds.OsImage;
  /**
   * [] while the server runs the image it was bought with, else [that image]: the server's SSH steps
   * take it as their triggers (and depend on osImage), so a reinstall runs them again on the fresh disk.
   * Known in a preview (config and state), so a stack made before OsImage previews its steps unchanged.
   */
  readonly osGeneration: pulumi.Output<string[]>;

  constructor(name: string, args: MailServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailServer", name, {}, opts);
    this.hostname = `${args.name}.${args.mailDomain}`;
    this.instance = new hostwinds.Instance(
      args.name,
      {
        tenant: args.tenant,
        name: args.name,
        location: args.location,
        plan: args.plan,
        template: args.image ?? DEFAULT_IMAGE,
        billingCycle: args.billingCycle,
        sshKeys: args.sshKeys ?? [],
        adoptServiceId: args.adoptServiceId,
        allowReplace: args.allowReplace,
        rdns: this.hostname,
      },
      {
        parent: this,
        dependsOn: opts?.dependsOn,
        // The Instance's template is the image it was bought with; the image it runs is osImage's.
        ignoreChanges: ["template"],
      },
    ); // children do not inherit a component's dependsOn
    ({ osImage: this.osImage, generation: this.osGeneration } = this.reimaging(args));
    ({ sending: this.ips, standby: this.standby } = this.ipSlots(args));
    this.outboundIps = this.outbound(args);
    this.serviceId = this.instance.serviceId;
    this.mainIp = this.instance.mainIp;
    this.serverMonthlyUsd = this.instance.monthlyPriceUsd;
    this.sendingIps = describe(this.ips);
    this.standbyIps = describe(this.standby);
    this.registerOutputs({ hostname: this.hostname, serviceId: this.serviceId, mainIp: this.mainIp, sendingIps: this.sendingIps });
  }
  /** The server's sending and standby IP slots (children of this server, named <name>-ipN and <name>-standbyN). */
  private ipSlots(args: MailServerArgs): { sending: hostwinds.SecondaryIp[]; standby: hostwinds.SecondaryIp[] } {
    // Every IP slot of this server, so a new slot learns what the others hold before taking an IP.
    const siblings = [
      ...Array.from({ length: args.sendingIps }, (_, i) => `${args.name}-ip${i + 1}`),
      ...Array.from({ length: args.standbyIps ?? 0 }, (_, i) => `${args.name}-standby${i + 1}`),
    ];
    const sending = Array.from(
      { length: args.sendingIps },
      (_, i) =>
        new hostwinds.SecondaryIp(
          `${args.name}-ip${i + 1}`,
          {
            tenant: args.tenant,
            serverMark: this.instance.serverName,
            serviceId: this.instance.serviceId,
            rdns: sendingHostname(args.name, i + 1, args.mailDomain),
            adoptIp: args.adoptIps?.[i],
            retire: args.retireIps ?? [],
            siblings,
          },
          { parent: this },
        ),
    );
    const standby = Array.from(
      { length: args.standbyIps ?? 0 },
      (_, i) =>
        new hostwinds.SecondaryIp(
          `${args.name}-standby${i + 1}`,
          {
            tenant: args.tenant,
            serverMark: this.instance.serverName,
            serviceId: this.instance.serviceId,
            rdns: standbyHostname(args.name, i + 1, args.mailDomain),
            retire: args.retireIps ?? [],
            siblings,
          },
          { parent: this },
        ),
    );
    return { sending, standby };
  }
  /** The IPs mail leaves from: the sending slots, or with some paused, the rotation that swaps standbys in. */
  private outbound(args: MailServerArgs): pulumi.Output<string>[] {
    const paused = args.pausedIps ?? [];
    const places = args.sendingIps - Math.max(0, paused.length - this.standby.length);
    if (paused.length === 0) {
      return this.ips.map((ip) => ip.ip);
    } else {
      const rotation = pulumi
        .all([pulumi.all(this.ips.map((ip) => ip.ip)), pulumi.all(this.standby.map((ip) => ip.ip))])
        .apply(async ([sending, standby]) => {
          const r = outboundRotation(args.name, sending, standby, paused);
          if (r.problem) await stopRun([r.problem, "the run stopped there: fix the config and run it again"], this);
          return r.rotation;
        });
      return Array.from({ length: places }, (_, k) => rotation.apply((r) => r[k]));
    }
  }
  /**
   * The server's image, bound to its Instance. A server with no image named keeps the one it was bought
   * with (a newer DEFAULT_IMAGE is for new servers, and removing the name reinstalls nothing). With SSH
   * access, a step backs MailU's data up first whenever the image changes (osImage depends on it).
   */
  private reimaging(args: MailServerArgs): { osImage: hostwinds.OsImage; generation: pulumi.Output<string[]> } {
    const builtWith = this.instance.template;
    const wanted = args.image === undefined ? builtWith : pulumi.output(args.image);
    const changed = pulumi.all([wanted, builtWith]).apply(([w, b]) => w !== b);
    const generation = pulumi.all([wanted, changed]).apply(([w, c]) => (c ? [w] : []));
    const before = args.ssh
      ? new Command(
          `${args.name}-pre-reinstall`,
          {
            description: `the backup before an OS reinstall of ${args.name} (${args.tenant})`,
            connection: {
              host: this.instance.mainIp,
              port: args.ssh.port ?? 22,
              user: "root",
              password: this.instance.rootPassword,
              privateKey: args.ssh.privateKey,
            },
            // Recorded with nothing to do; run again (the backup) whenever the image asked for changes.
            create: changed.apply((c) => (c ? preReinstallScript(args.name) : NO_REINSTALL_SCRIPT)),
            update: preReinstallScript(args.name),
            triggers: generation,
            timeoutSeconds: 3600,
          },
          { parent: this },
        )
      : undefined;
    const osImage = new hostwinds.OsImage(
      `${args.name}-os`,
      {
        tenant: args.tenant,
        name: args.name,
        serviceId: this.instance.serviceId,
        serverMark: this.instance.serverName,
        template: wanted,
        builtWith,
      },
      { parent: this, dependsOn: before ? [before] : [], ignoreChanges: args.image === undefined ? ["template"] : [] },
    );
    return { osImage, generation };
  }
}
