/**
 * The monitor's checks of each tenant server over SSH (./server-checks.ts says what is read and how
 * it is judged): one round trip per server per pass over the connection the stack's MailU steps use
 * (the backup step's, else the network step's: scripts/lib/stacks/server-connection.ts, as
 * offboarding's final backups reach a server). The latest check of each server is kept on
 * tenant_servers (GET …/ips shows the mail held per IP from it; capacity advice reads disk and memory).
 * A server whose stack has no such step (MailU not installed) is not checked; one that does not
 * answer is the `unreachable` cause.
 */
import { Pool } from "pg";
import { SshConnection, SshError, run } from "../providers/ssh/client";
import type { CheckResult } from "../scripts/lib/verify/result";
import { openTenantStack } from "../scripts/lib/stacks/stacks";
import { serverConnection } from "../scripts/lib/stacks/server-connection";
import type { ApplyContext } from "./apply";
import { saveServerCheck } from "./store/monitoring";
import {
  DEFAULT_SERVER_LIMITS,
  SERVER_CHECK_SCRIPT,
  ServerLimits,
  judgeServer,
  parseServerCheck,
  unreachableResult,
} from "./server-checks";

export interface ServerAccess {
  connection: SshConnection;
  redact: string[];
}

export interface ServerCheckOptions {
  /** The SSH connection of a tenant's server, or undefined when its stack has none (no MailU installed). */
  connect: (tenant: string, server: string) => Promise<ServerAccess | undefined>;
  /** Told when a connection was refused, so a cached one is read again from the stack. */
  forget?: (tenant: string, server: string) => void;
  limits?: Partial<ServerLimits>;
  /** Connection attempts per server and pass (default 2). */
  dialAttempts?: number;
  timeoutMs?: number;
}

/** Each server's results for this pass (the server as subject, its main IP kept as `ip`). */
export async function checkServers(
  pool: Pool,
  o: ServerCheckOptions,
  tenant: string,
  servers: Array<{ server: string; main_ip: string }>,
  log?: (line: string) => void,
): Promise<Array<CheckResult & { ip: string }>> {
  const limits = { ...DEFAULT_SERVER_LIMITS, ...o.limits };
  const out: Array<CheckResult & { ip: string }> = [];
  for (const s of servers) {
    const access = await o.connect(tenant, s.server).catch((e: Error) => {
      log?.(`monitor: ${tenant} ${s.server}: no SSH connection to check it with: ${e.message}`);
      return undefined;
    });
    if (!access) continue;
    const { connection, redact } = access;
    const secrets = [...redact, connection.password ?? "", connection.privateKey ?? ""].filter(Boolean);
    try {
      const r = await run(connection, SERVER_CHECK_SCRIPT, {
        secrets,
        dialAttempts: o.dialAttempts ?? 2,
        dialTimeoutMs: 15_000,
        timeoutMs: o.timeoutMs ?? 60_000,
      });
      const check = parseServerCheck(r.stdout);
      await saveServerCheck(pool, tenant, s.server, check);
      for (const x of judgeServer(s.server, check, limits)) out.push({ ...x, ip: s.main_ip });
      out.push({ ...unreachableResult(s.server, ""), status: "pass", detail: "answered over SSH", ip: s.main_ip });
    } catch (e) {
      const err = e as Error;
      if (err instanceof SshError && err.kind === "auth") o.forget?.(tenant, s.server);
      if (err instanceof SshError) out.push({ ...unreachableResult(s.server, err.message), ip: s.main_ip });
      else log?.(`monitor: ${tenant} ${s.server}: the server check failed: ${err.message}`);
    }
  }
  return out;
}

/** How long a server's connection read from its stack is kept in memory (a rebuilt server's refused login drops it sooner). */
const ACCESS_TTL_MS = 30 * 60_000;

/**
 * Connections read from each tenant's stack state (an engine slot and the config repository's
 * clone, as an apply uses them), kept in memory only (they hold the root password or key) for
 * ACCESS_TTL_MS, so a pass does not export every stack.
 */
export function stackServerAccess(ctx: Pick<ApplyContext, "repo" | "slots" | "engine">): Pick<ServerCheckOptions, "connect" | "forget"> {
  const cache = new Map<string, { at: number; access: ServerAccess | undefined }>();
  return {
    forget: (tenant, server) => cache.delete(`${tenant}\0${server}`),
    async connect(tenant, server) {
      const key = `${tenant}\0${server}`;
      const hit = cache.get(key);
      if (hit && Date.now() - hit.at < ACCESS_TTL_MS) return hit.access;
      const slot = await ctx.slots.acquire();
      try {
        const stack = await openTenantStack(await ctx.repo.checkout(slot), tenant, slot, ctx.engine, false);
        const access = await serverConnection(stack, tenant, server)
          .catch(() => serverConnection(stack, tenant, server, "mailu-network"))
          .catch(() => undefined);
        cache.set(key, { at: Date.now(), access });
        return access;
      } catch (e) {
        // No stack (yet), or its state unreadable now: not checked, asked again after the TTL; said once.
        cache.set(key, { at: Date.now(), access: undefined });
        throw e;
      } finally {
        ctx.slots.release(slot);
      }
    },
  };
}
