/**
 * An OS reinstall on the same VPS (`reinstall_instance`, ASSUMPTIONS: reinstall): sent once, then
 * watched until the server is ACTIVE again. Shared by `fleet rebuild --reinstall` (a broken server
 * back with its IPs) and `hostwinds.OsImage` (a template change in the config, os-image.ts).
 */
import { HostwindsClient, OutcomeUnknownError } from "./client";
import type { Instance } from "./wire";

export interface ReinstallOptions {
  timeoutMs?: number;
  pollMs?: number;
  log?: (line: string) => void;
}

/**
 * [assumed] A rebuild leaves ACTIVE (BUILD while the disk is rebuilt) and comes back ACTIVE; if it
 * never shows leaving, a minute of ACTIVE after the request is taken as done.
 */
const ACTIVE_WITHOUT_LEAVING_MS = 60_000;

/**
 * Reinstalls server `serviceId` from `template` (a UUID) and waits for it. A lost answer is not sent
 * again (a second rebuild would wipe what the first restored): the server is watched instead.
 */
export async function reinstallAndWait(
  client: HostwindsClient,
  serviceId: number,
  template: string,
  o: ReinstallOptions = {},
): Promise<Instance> {
  try {
    await client.reinstallInstance(serviceId, template);
  } catch (e) {
    if (!(e instanceof OutcomeUnknownError)) throw e;
    o.log?.(`the answer to the reinstall of server ${serviceId} was lost; watching the server instead of sending it again`);
  }
  const asked = Date.now();
  let left = false;
  return client.waitFor(
    `server ${serviceId} to be rebuilt`,
    async () => {
      const i = await client.getInstance(serviceId);
      if (!i) throw new Error(`server ${serviceId} disappeared from the account while it was rebuilt`);
      if (/error|fail/i.test(i.status)) throw new Error(`server ${serviceId} failed to rebuild: Hostwinds reports status ${i.status}`);
      if (i.status !== "ACTIVE") left = true;
      return i.status === "ACTIVE" && (left || Date.now() - asked > ACTIVE_WITHOUT_LEAVING_MS) ? i : undefined;
    },
    { timeoutMs: o.timeoutMs ?? 60 * 60_000, initialDelayMs: o.pollMs ?? 500, maxDelayMs: o.pollMs ?? 10_000, onProgress: o.log },
  );
}
