/**
 * What one tenant's preview (or drift check) says, from the engine's events:
 * servers and IPs to buy, release or replace, DNS records to change, the MailU
 * steps that rerun, policy violations, and the monthly cost before and after.
 */
import { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../providers/hostwinds";
import { DNS_RECORD_TYPE } from "../../providers/cloudflare";
import { COMMAND_TYPE } from "../../providers/ssh";
import { declaredMonthlyCost, parseTenant } from "../../stacks/tenant";

export type Op = "create" | "update" | "delete" | "replace";

export interface TenantChange {
  tenant: string;
  /** ok: previewed; blocked: a mandatory policy refused it; failed: the preview itself failed. */
  status: "ok" | "blocked" | "failed";
  error?: string;
  servers: Record<Op, string[]>;
  ips: Record<Op, string[]>;
  dns: Record<Op, string[]>;
  /** MailU steps on servers that would run. */
  serverSteps: string[];
  policy: Array<{ policy: string; level: "mandatory" | "warning"; message: string }>;
  costBeforeUsd: number;
  /** From the tenant config and the checked-in price list; undefined when the config does not parse. */
  costAfterUsd?: number;
}

const empty = (): Record<Op, string[]> => ({ create: [], update: [], delete: [], replace: [] });
const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

/** Collects events of one engine run into a TenantChange. */
export class ChangeCollector {
  readonly change: TenantChange;
  constructor(tenant: string) {
    this.change = { tenant, status: "ok", servers: empty(), ips: empty(), dns: empty(), serverSteps: [], policy: [], costBeforeUsd: 0 };
  }

  readonly onEvent = (e: EngineEvent): void => {
    const m = e.resourcePreEvent?.metadata;
    if (m) {
      const op: Op | undefined = m.op === "create" ? "create" : m.op === "update" ? "update" : m.op === "delete" ? "delete" : m.op === "replace" ? "replace" : undefined;
      if (op) {
        const bucket = m.type === INSTANCE_TYPE ? this.change.servers : m.type === SECONDARY_IP_TYPE ? this.change.ips : m.type === DNS_RECORD_TYPE ? this.change.dns : undefined;
        if (bucket) bucket[op].push(nameOf(m.urn));
        else if (m.type === COMMAND_TYPE) this.change.serverSteps.push(`${op} ${nameOf(m.urn)}`);
      }
    }
    const p = e.policyEvent;
    if (p) this.change.policy.push({ policy: p.policyName, level: p.enforcementLevel, message: p.message.trim() });
  };

  /** A failed run: blocked when a mandatory policy spoke, else failed with the engine's own words. */
  failed(err: unknown): void {
    this.change.status = this.change.policy.some((p) => p.level === "mandatory") ? "blocked" : "failed";
    this.change.error = conciseError(err);
  }
}

/** The lines of an engine error a person needs: errors and diagnostics, not the progress chatter. */
export function conciseError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const noise = /Command failed with exit code|^err\?:|\*\*[^*]*failed\*\*|^at |^code: |^stdout:|^stderr:\s*$/;
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => /error:|violation|failed|refus|expected|\bnot\b/i.test(l) && !noise.test(l));
  const unique = [...new Set(lines.map((l) => l.replace(/^.*?error: /, "")))].filter((l) => l && l !== "update failed" && l !== "preview failed");
  return (unique.length ? unique.slice(0, 6) : [text.split("\n")[0]]).join("; ").slice(0, 600);
}

/** The tenant's monthly cost now (the stack's output) and after the change (priced from its config). */
export async function costs(stack: Stack, change: TenantChange): Promise<void> {
  const outs = await stack.outputs().catch(() => ({} as Record<string, { value: unknown }>));
  change.costBeforeUsd = (outs.monthlyCostUsd?.value as { totalUsd?: number } | undefined)?.totalUsd ?? 0;
  const config = await stack.getAllConfig();
  try {
    const raw = config["penguinmails-infra:tenant"]?.value;
    const t = parseTenant(change.tenant, raw === undefined ? undefined : JSON.parse(raw));
    change.costAfterUsd = declaredMonthlyCost(t, config["hostwinds:ipMonthlyPriceUsd"]?.value ?? process.env.HOSTWINDS_IP_MONTHLY_PRICE_USD).totalUsd;
  } catch {
    change.costAfterUsd = undefined; // the preview reports the config's problems
  }
}
