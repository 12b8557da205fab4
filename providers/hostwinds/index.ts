/**
 * Hostwinds servers and secondary IPs as Pulumi resources.
 *
 * ```ts
 * import * as hostwinds from "../providers/hostwinds";
 * const mx1 = new hostwinds.Instance("mx1", { tenant: "acme", name: "mx1", location: 2, plan: 102, template: "debian-12" }); // plan: a rid
 * new hostwinds.SecondaryIp("mx1-ip1", { tenant: "acme", serviceId: mx1.serviceId, rdns: "mail1.acme.example" });
 * ```
 *
 * Credentials and knobs are provider settings (`hostwinds:apiKey` as secret
 * stack config, or HOSTWINDS_API_KEY; see settings.ts), never inputs. Only the
 * module path of the implementation is serialized into state.
 */
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../lib/dynamic-resource";
import { backendFingerprint } from "./inputs";
import type { BillingCycle } from "../model/pricing";

export type { BillingCycle } from "../model/pricing";

export { INSTANCE_TYPE, OS_IMAGE_TYPE, SECONDARY_IP_TYPE } from "../model/resource-types";

export interface InstanceArgs {
  /** The tenant the server belongs to; part of its owner, whose hash is its name in Hostwinds (inputs.ts). */
  tenant: pulumi.Input<string>;
  /** The owning stack, part of the mark (default: this stack). */
  stack?: pulumi.Input<string>;
  /** The server's logical name within the tenant, e.g. `mx1`. Changing it renames the server. */
  name: pulumi.Input<string>;
  /** Hostwinds location id (get_locations). Changing it replaces the server. */
  location: pulumi.Input<number>;
  /** Hostwinds plan id (`rid` in the price list). Changing it upgrades the same server (upgrade_instance). */
  plan: pulumi.Input<number>;
  /**
   * The image the server is bought with: a public image's name (e.g. debian-12) or a template UUID (the
   * `image` output). Changing it later changes nothing on the server: the image a running server has is
   * a `hostwinds.OsImage`'s, whose change is a reinstall on the same server.
   */
  template: pulumi.Input<string>;
  /** Default monthly. Changing it replaces the server (refused unless allowReplace). */
  billingCycle?: pulumi.Input<BillingCycle>;
  /** Names of SSH keys in the Hostwinds account, installed when the server is built. Changing them is recorded in place (Hostwinds installs them at build only). */
  sshKeys?: pulumi.Input<pulumi.Input<string>[]>;
  /** Take over this existing server instead of buying one (dynamic resources cannot be `pulumi import`ed). */
  adoptServiceId?: pulumi.Input<number>;
  /**
   * The server's host name, e.g. mx1.acme-mail.com: its main IP's reverse DNS (PTR), set on create and
   * whenever it changes (the `set_rdns` the secondary IPs use). A PTR changed in the panel is drift.
   */
  rdns?: pulumi.Input<string>;
  /** Accept replacing this server (losing its mail, IPs and their warm-up) when a change cannot be made in place. */
  allowReplace?: pulumi.Input<boolean>;
}

/** A Hostwinds cloud server, bought on create and terminated on delete. */
export class Instance extends DynamicResource {
  declare readonly tenant: pulumi.Output<string>;
  declare readonly serviceId: pulumi.Output<number>;
  declare readonly serverName: pulumi.Output<string>;
  declare readonly hostname: pulumi.Output<string>;
  declare readonly mainIp: pulumi.Output<string>;
  /** The main IP's reverse DNS as last set or read ("" when not managed). */
  declare readonly rdns: pulumi.Output<string>;
  declare readonly status: pulumi.Output<string>;
  /** The image it was bought with, as the config named it. */
  declare readonly template: pulumi.Output<string>;
  declare readonly image: pulumi.Output<string>;
  declare readonly monthlyPriceUsd: pulumi.Output<number>;
  /** Secret. */
  declare readonly rootPassword: pulumi.Output<string>;
  /** Secret. */
  declare readonly configKey: pulumi.Output<string>;

  constructor(name: string, args: InstanceArgs, opts: pulumi.CustomResourceOptions = {}) {
    const outputs = {
      serviceId: undefined,
      serverName: undefined,
      hostname: undefined,
      mainIp: undefined,
      status: undefined,
      image: undefined,
      monthlyPriceUsd: undefined,
      rootPassword: undefined,
      configKey: undefined,
    };
    super(
      "dist/providers/hostwinds/instance",
      name,
      { ...outputs, ...args, stack: args.stack ?? pulumi.getStack(), project: pulumi.getProject(), backend: backendFingerprint() },
      {
        ...opts,
        additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "rootPassword", "configKey"],
      },
      "hostwinds",
      "Instance",
    );
  }
}

export interface SecondaryIpArgs {
  /** The tenant; IPs are bought on and released from this tenant's servers only. */
  tenant: pulumi.Input<string>;
  /** The owning stack (default: this stack); the server must carry its mark. */
  stack?: pulumi.Input<string>;
  /**
   * The names of every SecondaryIp resource on the same server (this one included). A new slot
   * learns which IPs the others hold before taking an unclaimed one; without it, it buys.
   */
  siblings?: pulumi.Input<pulumi.Input<string>[]>;
  /** The server's owner mark (Instance.serverName): the IP is bought on and released from that server only. */
  serverMark?: pulumi.Input<string>;
  /** The server (Instance.serviceId). Changing it replaces the IP. */
  serviceId: pulumi.Input<number>;
  /** Reverse DNS of the IP, a host name that resolves back to it. Unique per server. Updated in place. */
  rdns: pulumi.Input<string>;
  /** Take over this IP, already on the server, instead of buying one. */
  adoptIp?: pulumi.Input<string>;
  /**
   * IPs to retire. If this resource's IP is among them it is replaced: a new IP is bought first,
   * everything that reads this resource's IP moves to it, and the old one is released last.
   */
  retire?: pulumi.Input<pulumi.Input<string>[]>;
}

/** One additional IPv4 address on a server, bought on create and released on delete. */
export class SecondaryIp extends DynamicResource {
  declare readonly tenant: pulumi.Output<string>;
  declare readonly serviceId: pulumi.Output<number>;
  declare readonly ip: pulumi.Output<string>;
  declare readonly rdns: pulumi.Output<string>;
  declare readonly monthlyPriceUsd: pulumi.Output<number>;
  /** When this resource got its IP (ISO time): day 1 of the IP's warm-up. */
  declare readonly since: pulumi.Output<string>;
  /** The order's lifecycle: purchasing (bought, Hostwinds has not assigned it yet) → assigned. `ip` is "" until assigned. */
  declare readonly status: pulumi.Output<string>;
  /** When the IP was ordered (ISO time). */
  declare readonly orderedAt: pulumi.Output<string>;

  constructor(name: string, args: SecondaryIpArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      "dist/providers/hostwinds/secondary-ip",
      name,
      {
        ip: undefined,
        monthlyPriceUsd: undefined,
        since: undefined,
        status: undefined,
        orderedAt: undefined,
        ...args,
        stack: args.stack ?? pulumi.getStack(),
        slot: name,
      },
      opts,
      "hostwinds",
      "SecondaryIp",
    );
  }
}

export interface OsImageArgs {
  tenant: pulumi.Input<string>;
  /** The server's logical name in the tenant (for messages). */
  name: pulumi.Input<string>;
  stack?: pulumi.Input<string>;
  /** The server (Instance.serviceId). Another server is another OsImage. */
  serviceId: pulumi.Input<number>;
  /** The server's owner mark (Instance.serverName): a server carrying another mark is never reinstalled. */
  serverMark?: pulumi.Input<string>;
  /** The image the server is to run: a public image's name or a template UUID. Changing it reinstalls the same server. */
  template: pulumi.Input<string>;
  /** The image the server was bought with (Instance.template): recording that one reinstalls nothing. */
  builtWith: pulumi.Input<string>;
}

/**
 * The image a Hostwinds server runs, bound to its Instance. A change is an OS reinstall on the same
 * server (`reinstall_instance`): its IPs and their warm-up stay, its disk is rebuilt. Make what must
 * run before (a backup) a dependency of it, and what must run after (the server's setup) depend on it.
 */
export class OsImage extends DynamicResource {
  declare readonly image: pulumi.Output<string>;
  declare readonly template: pulumi.Output<string>;
  /** When this resource last reinstalled the server (ISO time), "" when it never did. */
  declare readonly reinstalledAt: pulumi.Output<string>;

  constructor(name: string, args: OsImageArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      "dist/providers/hostwinds/os-image",
      name,
      { image: undefined, reinstalledAt: undefined, ...args, stack: args.stack ?? pulumi.getStack() },
      opts,
      "hostwinds",
      "OsImage",
    );
  }
}
