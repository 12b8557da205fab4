/**
 * MailServer: one Hostwinds server and its sending IPs, each IP's reverse DNS
 * set to its own host name under the mail domain. (DNS records and the MailU
 * install join here; see the README's Status.)
 */
import * as pulumi from "@pulumi/pulumi";
import * as hostwinds from "../providers/hostwinds";

export interface MailServerArgs {
  tenant: string;
  /** Logical name within the tenant, e.g. mx1; the server's host name is `<name>.<mailDomain>`. */
  name: string;
  location: number;
  plan: number;
  billingCycle: hostwinds.BillingCycle;
  image: string;
  sshKeys?: string[];
  /** How many secondary IPs send mail from this server. */
  sendingIps: number;
  /** The domain the server's host names live under. */
  mailDomain: string;
  adoptServiceId?: number;
  adoptIps?: string[];
  /** Sending IPs to replace: each is swapped for a new IP, bought before it is released. */
  retireIps?: string[];
}

export interface SendingIp { ip: string; hostname: string; monthlyPriceUsd: number; since: string }

/** The host name of sending IP n (1-based) of a server: what its rDNS says and its A record resolves. */
export const sendingHostname = (server: string, n: number, mailDomain: string) => `${server}-ip${n}.${mailDomain}`;

export class MailServer extends pulumi.ComponentResource {
  readonly instance: hostwinds.Instance;
  readonly ips: hostwinds.SecondaryIp[];
  readonly hostname: string;
  readonly serviceId: pulumi.Output<number>;
  readonly mainIp: pulumi.Output<string>;
  readonly sendingIps: pulumi.Output<SendingIp[]>;
  readonly serverMonthlyUsd: pulumi.Output<number>;

  constructor(name: string, args: MailServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailServer", name, {}, opts);
    this.hostname = `${args.name}.${args.mailDomain}`;
    this.instance = new hostwinds.Instance(args.name, {
      tenant: args.tenant, name: args.name, location: args.location, plan: args.plan, template: args.image,
      billingCycle: args.billingCycle, sshKeys: args.sshKeys ?? [], adoptServiceId: args.adoptServiceId,
    }, { parent: this, dependsOn: opts?.dependsOn }); // children do not inherit a component's dependsOn
    this.ips = Array.from({ length: args.sendingIps }, (_, i) =>
      new hostwinds.SecondaryIp(`${args.name}-ip${i + 1}`, {
        tenant: args.tenant, serviceId: this.instance.serviceId, rdns: sendingHostname(args.name, i + 1, args.mailDomain), adoptIp: args.adoptIps?.[i],
        retire: args.retireIps ?? [],
      }, { parent: this }));
    this.serviceId = this.instance.serviceId;
    this.mainIp = this.instance.mainIp;
    this.serverMonthlyUsd = this.instance.monthlyPriceUsd;
    this.sendingIps = pulumi.all(this.ips.map((ip) => pulumi.all([ip.ip, ip.rdns, ip.monthlyPriceUsd, ip.since])))
      .apply((list) => list.map(([ip, hostname, monthlyPriceUsd, since]) => ({ ip, hostname, monthlyPriceUsd, since })));
    this.registerOutputs({ hostname: this.hostname, serviceId: this.serviceId, mainIp: this.mainIp, sendingIps: this.sendingIps });
  }
}
