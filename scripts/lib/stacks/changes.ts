/**
 * What one tenant's preview (or drift check) says, from the engine's events:
 * servers and IPs to buy, release or replace, DNS records to change, the MailU
 * steps that rerun, policy violations, and the monthly cost before and after.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { FleetProject } from "./tenants";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../../providers/hostwinds";
import { DNS_RECORD_TYPE } from "../../../providers/cloudflare";
import { COMMAND_TYPE } from "../../../providers/ssh";
import { declaredMonthlyCost, parseTenant } from "../../../providers/model/tenant";
import { defaultPriceBook } from "../../../providers/hostwinds/catalog";

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
    // The stack's outputs before this run come with its step: no extra call to read state.
    if (m?.type === "pulumi:pulumi:Stack") {
      const before = (m.old?.outputs?.monthlyCostUsd as { totalUsd?: number } | undefined)?.totalUsd;
      if (typeof before === "number") this.change.costBeforeUsd = before;
    }
    if (m) {
      const op: Op | undefined =
        m.op === "create"
          ? "create"
          : m.op === "update"
            ? "update"
            : m.op === "delete"
              ? "delete"
              : m.op === "replace"
                ? "replace"
                : undefined;
      if (op) {
        const bucket =
          m.type === INSTANCE_TYPE
            ? this.change.servers
            : m.type === SECONDARY_IP_TYPE
              ? this.change.ips
              : m.type === DNS_RECORD_TYPE
                ? this.change.dns
                : undefined;
        if (bucket) bucket[op].push(nameOf(m.urn));
        else if (m.type === COMMAND_TYPE) this.change.serverSteps.push(`${op} ${nameOf(m.urn)}`);
      }
    }
    const p = e.policyEvent;
    if (p) this.change.policy.push({ policy: p.policyName, level: p.enforcementLevel, message: p.message.trim() });
  };

  /**
   * A failed run: blocked when a mandatory policy spoke or the program refused the config as over
   * its tier or budget (the same limits, checked before any resource), else failed with the engine's own words.
   */
  failed(err: unknown): void {
    const refused = /over its \w+ tier's limits or its budget/.test(err instanceof Error ? err.message : String(err));
    this.change.status = refused || this.change.policy.some((p) => p.level === "mandatory") ? "blocked" : "failed";
    this.change.error = conciseError(err);
  }
}

/** The lines of an engine error a person needs: errors and diagnostics, not the progress chatter. */
export function conciseError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const noise = /Command failed with exit code|^err\?:|\*\*[^*]*failed\*\*|^at |^code: |^stdout:|^stderr:\s*$/;
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /error:|violation|failed|refus|expected|\bnot\b/i.test(l) && !noise.test(l));
  const unique = [...new Set(lines.map((l) => l.replace(/^.*?error: /, "")))].filter(
    (l) => l && l !== "update failed" && l !== "preview failed",
  );
  return (unique.length ? unique.slice(0, 6) : [text.split("\n")[0]]).join("; ").slice(0, 600);
}

/**
 * The tenant's monthly cost after the change, priced from its stack config file the way the
 * program prices it (read from the file: a CLI call per tenant is a good part of a preview's cost).
 */
export function costAfter(p: FleetProject, change: TenantChange): void {
  try {
    const doc = parse(fs.readFileSync(path.join(p.root, p.stacksDir, `Pulumi.${change.tenant}.yaml`), "utf8")) as {
      config?: Record<string, unknown>;
    };
    const config = doc?.config ?? {};
    const t = parseTenant(change.tenant, config["penguinmails-infra:tenant"], defaultPriceBook());
    const ipPrice = config["hostwinds:ipMonthlyPriceUsd"];
    change.costAfterUsd = declaredMonthlyCost(
      t,
      defaultPriceBook(),
      typeof ipPrice === "string" || typeof ipPrice === "number" ? ipPrice : process.env.HOSTWINDS_IP_MONTHLY_PRICE_USD,
    ).totalUsd;
  } catch {
    change.costAfterUsd = undefined; // the preview reports the config's problems
  }
}
