/**
 * One tenant's preview or up with the policy pack, as the fleet and the service run it: the
 * tenant's change from the engine's events (a failure is the change's, never thrown). With
 * `inline` the program runs inline in this process (an engine worker, ./engine-worker.ts).
 */
import { EngineEvent, OutputMap } from "@pulumi/pulumi/automation";
import { ChangeCollector, TenantChange, costAfter } from "./changes";
import { FleetEngineOptions, onTenantStack, withoutUpResult } from "./stacks";
import { FleetProject } from "./tenants";
import { rebuiltServers } from "./rebuilt";

const STACK_TYPE = "pulumi:pulumi:Stack";

/** Outputs as an event carries them (a secret shows as "[secret]"), in the shape `stack output` gives. */
const outputMap = (o: Record<string, unknown>): OutputMap =>
  Object.fromEntries(Object.entries(o).map(([k, value]) => [k, { value, secret: value === "[secret]" }]));

/** What one tenant's run takes (the fleet's options carry these, and so does an engine worker's job). */
export interface TenantRunOptions extends FleetEngineOptions {
  project: FleetProject;
  /** Policy pack folders to run with preview and up. */
  policyPacks?: string[];
  /** up: refresh first (a server lost behind the stack's back is then rebuilt). */
  refresh?: boolean;
  log?: (line: string) => void;
}

/** Runs the tenant's preview or up; `onEvent` sees every engine event too (the service moves its rows on them). */
export async function changeTenant(
  o: TenantRunOptions,
  tenant: string,
  slot: number,
  op: "preview" | "up",
  onEvent?: (e: EngineEvent) => void,
): Promise<TenantChange> {
  const c = new ChangeCollector(tenant);
  costAfter(o.project, c.change);
  // The stack's outputs before the run (its first step's old state) and after (its last step's):
  // what a refresh rebuilt is told from them, without `stack output` (two CLI runs per read).
  let before: Record<string, unknown> | undefined;
  let after: Record<string, unknown> | undefined;
  const events = (e: EngineEvent) => {
    c.onEvent(e);
    const pre = e.resourcePreEvent?.metadata;
    if (pre?.type === STACK_TYPE && !before) before = pre.old?.outputs ?? {};
    const out = e.resOutputsEvent?.metadata;
    if (out?.type === STACK_TYPE && out.new?.outputs) after = out.new.outputs;
    onEvent?.(e);
  };
  try {
    // A preview inline also has its dynamic providers in this process (./in-process-providers.ts); an up keeps its provider process.
    const engine = { ...o, providersInProcess: o.inline === true && op === "preview" && o.providersInProcess !== false };
    await onTenantStack(o.project, tenant, slot, engine, async (stack) => {
      const refresh = op === "up" && o.refresh === true;
      const run = { policyPacks: o.policyPacks, onEvent: events, ...(refresh ? { refresh: true } : {}) };
      // The change is the events'; an up's result (outputs, history) would cost three more CLI runs.
      await (op === "up" ? withoutUpResult(stack, run) : stack.preview(run));
      if (refresh && before && after) for (const line of rebuiltServers(tenant, outputMap(before), outputMap(after))) o.log?.(line);
    });
  } catch (e) {
    c.failed(e);
  }
  return c.change;
}
