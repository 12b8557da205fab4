/**
 * What the provider process shares between resources: one client built from
 * the provider settings, a lock per server so IP purchases on a server happen
 * one at a time, and short-lived shared reads so that refreshing a server
 * with N IPs costs one IP listing, not N.
 */
import { HostwindsClient } from "./client";
import { readSettings, Settings } from "./settings";
import { HostwindsError } from "./errors";
import { checkProbed } from "./catalog";
import { DEFAULT_API_URL } from "./wire";
import type { Image, Instance, InstanceIp, Plan } from "./wire";
import { projectOf, stackLeases } from "../lib/lease";
import { backendUrl } from "../model/owner";

/** Reads younger than this are shared (a refresh reads every IP of a server at once). */
const SHARED_READ_MS = 5_000;

interface Shared<T> {
  at: number;
  value: Promise<T>;
}

export class Session {
  readonly client: HostwindsClient;
  private readonly locks = new Map<number, Promise<unknown>>();
  private readonly ipLists = new Map<number, Shared<InstanceIp[]>>();
  private readonly instances = new Map<number, Shared<Instance | undefined>>();
  private prices?: Promise<Plan[]>;
  private imageList?: Promise<Image[]>;
  private accessConfirmedAt = -Infinity;

  constructor(readonly settings: Settings) {
    this.client = new HostwindsClient({
      apiKey: settings.apiKey,
      apiUrl: settings.apiUrl,
      requestsPerSecond: settings.requestsPerSecond,
      requestTimeoutMs: settings.requestTimeoutMs,
      // An account never probed (or whose probe refuted the action) cannot buy: on Hostwinds' own endpoint always.
      beforePurchase: (action) =>
        checkProbed(settings.apiKey, settings.apiUrl, action, settings.requireProbe ?? settings.apiUrl === DEFAULT_API_URL),
      // HOSTWINDS_LOG=1 prints one line per request (action, outcome, time; never bodies or keys).
      log: process.env.HOSTWINDS_LOG === "1" ? (line) => progress(`${new Date().toISOString().slice(11, 23)} ${line}`) : undefined,
    });
  }

  /**
   * Takes (once per stack and process) the stack's writer lease (providers/lib/lease.ts) before
   * anything is bought: a second engine on the same stack is refused, even after `pulumi cancel`.
   */
  purchaseLease(stack: string, doing: string): Promise<void> {
    return stackLeases(backendUrl).acquire(projectOf(), stack, doing, progress);
  }

  /** Runs `work` after every earlier piece of work on the same server has finished. */
  async oneAtATime<T>(serviceId: number, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(serviceId) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(work);
    this.locks.set(serviceId, mine);
    try {
      return await mine;
    } finally {
      if (this.locks.get(serviceId) === mine) this.locks.delete(serviceId);
    }
  }

  /** The server's IPs; `fresh` skips the shared read (while waiting for a change to show). */
  ips(serviceId: number, fresh = false): Promise<InstanceIp[]> {
    return this.shared(this.ipLists, serviceId, fresh, () => this.client.listIps(serviceId));
  }

  instance(serviceId: number, fresh = false): Promise<Instance | undefined> {
    return this.shared(this.instances, serviceId, fresh, () => this.client.getInstance(serviceId));
  }

  /**
   * The server as last read in this process, however long ago: enough for its
   * name and main IP, which do not change while one command runs; saves a read
   * per IP bought.
   */
  server(serviceId: number): Promise<Instance | undefined> {
    return this.shared(this.instances, serviceId, false, () => this.client.getInstance(serviceId), Infinity);
  }

  /** Drops the shared IP list of a server after buying, releasing or changing an IP. */
  ipsChanged(serviceId: number): void {
    this.ipLists.delete(serviceId);
  }

  /** Records a rename made by this process (the order journal), keeping the shared read of the server. */
  renamed(serviceId: number, srvrname: string): void {
    const hit = this.instances.get(serviceId);
    if (hit) this.instances.set(serviceId, { at: hit.at, value: hit.value.then((i) => (i ? { ...i, srvrname } : i)) });
  }

  /** Drops shared reads of a server after changing it. */
  changed(serviceId: number): void {
    this.ipLists.delete(serviceId);
    this.instances.delete(serviceId);
  }

  /** The price list, read once per provider process. */
  priceList(): Promise<Plan[]> {
    this.prices ??= this.client.priceList().catch((e) => {
      this.prices = undefined;
      throw e;
    });
    return this.prices;
  }

  /** Public images, read once per provider process. */
  images(): Promise<Image[]> {
    this.imageList ??= this.client.images().catch((e) => {
      this.imageList = undefined;
      throw e;
    });
    return this.imageList;
  }

  /**
   * Called before concluding that a server is gone: a stale or revoked key answers "A valid
   * serviceid is required." for every server (HWF README), so "not found" means gone only when
   * the same key can list the account. Throws a clear error otherwise; nothing is changed.
   */
  async confirmAccess(what: string): Promise<void> {
    if (Date.now() - this.accessConfirmedAt < 60_000) return;
    try {
      await this.client.confirmAccess();
      this.accessConfirmedAt = Date.now();
    } catch (e) {
      const detail = e instanceof HostwindsError ? e.detail : e instanceof Error ? e.message : String(e);
      throw new Error(
        `${what}: Hostwinds says it does not know the server, and the API key cannot list the account either (get_instances: ${detail}). ` +
          "The key is probably revoked, expired or used from an address not on its allow-list; the server is not treated as gone and nothing was changed. " +
          "Fix hostwinds:apiKey (or HOSTWINDS_API_KEY) and run again.",
      );
    }
  }

  private shared<T>(
    cache: Map<number, Shared<T>>,
    serviceId: number,
    fresh: boolean,
    load: () => Promise<T>,
    maxAgeMs = SHARED_READ_MS,
  ): Promise<T> {
    const hit = cache.get(serviceId);
    if (!fresh && hit && Date.now() - hit.at < maxAgeMs) return hit.value;
    const value = load();
    const entry = { at: Date.now(), value };
    cache.set(serviceId, entry);
    value.catch(() => cache.get(serviceId) === entry && cache.delete(serviceId));
    return value;
  }
}

export { useLeases } from "../lib/lease";

let current: Session | undefined;
let config: (key: string) => unknown = () => undefined;

/**
 * Called from the dynamic provider's `configure` with the stack's config.
 * It must not throw: the engine caches a provider before configuring it, so a
 * throw here would leave it unconfigured. Bad settings surface in `session()`.
 */
export function configureSession(lookup: (key: string) => unknown): void {
  config = lookup;
}

/** The process's session; every resource type shares it while the settings stay the same. */
export function session(): Session {
  const settings = readSettings(config);
  if (!current || JSON.stringify(current.settings) !== JSON.stringify(settings)) current = new Session(settings);
  return current;
}

/** Progress for long waits; a dynamic provider's console output reaches the Pulumi CLI. */
export function progress(line: string): void {
  console.log(line);
}
