/**
 * Opening a tenant's stack for fleet work. Each pool slot has its own Pulumi
 * home: the Automation API's local workspace runs `pulumi stack select`,
 * which rewrites a workspace file in PULUMI_HOME, so two stacks selected at
 * once in one home race. The backend and secrets provider are the caller's
 * (PULUMI_BACKEND_URL; PULUMI_CONFIG_PASSPHRASE_FILE, PULUMI_CONFIG_PASSPHRASE or
 * PENGUINMAILS_SECRETS_PROVIDER, ../engine/secrets.ts), or the local dev backend
 * when none is set; a stack created here gets that provider. Provider credentials come from the
 * environment too (HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN, …).
 */
import * as fs from "fs";
import * as path from "path";
import { LocalWorkspace, Stack, StackNotFoundError, UpOptions } from "@pulumi/pulumi/automation";
import { devDir, workspaceOptions } from "../engine/pulumi-env";
import { FleetProject } from "./tenants";
import { tenantCredentialEnv } from "./credentials";
import { tenantProgram, withProgramEnv } from "./inline";
import { withInProcessProviders } from "./in-process-providers";

export interface FleetEngineOptions {
  /** Backend folder under .pulumi-dev/backends when PULUMI_BACKEND_URL is not set (default "default"). */
  localBackend?: string;
  /** The Pulumi home's name under .pulumi-dev/fleet-homes (default slot-<n>); a worker process gives its own. */
  homeTag?: string;
  /**
   * Run the tenant program inline, in this process (./inline.ts), not in a new Node process per
   * run; one tenant at a time per process. The fleet commands give it to their engine workers.
   */
  inline?: boolean;
  /**
   * With `inline`, serve the run's dynamic providers in this process too (./in-process-providers.ts);
   * changeTenant asks it for previews.
   */
  providersInProcess?: boolean;
}

/** The tenant's stack; `create` makes it when missing (preview and up of a new tenant), otherwise a missing stack is an error. */
/** One workspace per slot, reused for each tenant the slot works on (creating one costs CLI calls). */
const workspaces = new Map<string, Promise<LocalWorkspace>>();

function slotWorkspace(p: FleetProject, slot: number, o: FleetEngineOptions): Promise<LocalWorkspace> {
  const extra: Record<string, string> = {};
  for (const k of ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PENGUINMAILS_SECRETS_PROVIDER"])
    if (process.env[k]) extra[k] = process.env[k]!;
  const home = o.homeTag ?? `slot-${slot}`;
  const key = JSON.stringify([p.root, home, o.localBackend ?? "", extra]);
  let ws = workspaces.get(key);
  if (!ws) {
    ws = workspaceOptions(p.root, { backend: o.localBackend, extra, home: path.join(devDir, "fleet-homes", home) }).then((opts) =>
      LocalWorkspace.create(opts),
    );
    workspaces.set(key, ws);
  }
  return ws;
}

/**
 * Runs `op` (a preview, an up) on the tenant's stack without selecting it first, creating the
 * stack when the backend has none. Every Automation API operation names its stack (`--stack`),
 * so `pulumi stack select`, which Stack.select and createOrSelect run, is only a workspace-file
 * rewrite plus an existence check; at about 0.2 s of CPU per tenant it was the fleet's largest
 * cost beyond the preview itself. So `op` runs on a view of the slot's workspace whose
 * selectStack does nothing (the Automation API skips selection the same way for remote
 * workspaces), and only when the stack turns out to be missing is it created and `op` run again.
 */
export async function onTenantStack<T>(
  p: FleetProject,
  tenant: string,
  slot: number,
  o: FleetEngineOptions,
  op: (stack: Stack) => Promise<T>,
): Promise<T> {
  const ws = await slotWorkspace(p, slot, o);
  useTenantCredentials(p, tenant, ws);
  // Inline: the stack's operations run the program through this view's `program` (Stack.preview/up read it).
  const programmed: PropertyDescriptorMap = o.inline ? { program: { value: tenantProgram(p) } } : {};
  const engine = (s: Stack) => (o.providersInProcess ? withInProcessProviders(ws.envVars, p.root, () => op(s)) : op(s));
  const run = (s: Stack) => (o.inline ? withProgramEnv(tenant, { ...ws.envVars }, p.root, () => engine(s)) : op(s));
  const unselected: LocalWorkspace = Object.create(ws, { selectStack: { value: async () => undefined }, ...programmed });
  try {
    return await run(await Stack.select(tenant, unselected));
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
  return run(await Stack.createOrSelect(tenant, Object.create(ws, programmed) as LocalWorkspace));
}

/**
 * `pulumi up` exactly as Stack.up runs it (its arguments, inline program, event log), without the
 * three CLI processes Stack.up starts after it only to build its result: `stack output --json`
 * twice (masked, then --show-secrets) and `stack history` (about 1.3 s of CPU per tenant, measured).
 * For callers that read neither the result's outputs nor its summary: the fleet (a tenant's change
 * comes from the engine's events) and the service (it reads the outputs it records itself).
 * Stack.up (@pulumi/pulumi 3.276 automation/stack.js) asks `this.outputs()` and `this.info()` for
 * them; here it runs on a view of the stack whose two answer empty. Errors are Stack.up's.
 */
export async function withoutUpResult(stack: Stack, opts?: UpOptions): Promise<void> {
  const view: Stack = Object.create(stack, { outputs: { value: async () => ({}) }, info: { value: async () => undefined } });
  await view.up(opts);
}

/** The slot's workspace is reused tenant after tenant: each gets its own accounts' credentials. */
function useTenantCredentials(p: FleetProject, tenant: string, ws: LocalWorkspace): void {
  for (const k of ["HOSTWINDS_API_KEY", "CLOUDFLARE_API_TOKEN"]) {
    if (process.env[k]) ws.envVars[k] = process.env[k]!;
    else delete ws.envVars[k];
  }
  Object.assign(ws.envVars, tenantCredentialEnv(p, tenant));
}

export async function openTenantStack(
  p: FleetProject,
  tenant: string,
  slot: number,
  o: FleetEngineOptions = {},
  create = true,
): Promise<Stack> {
  const ws = await slotWorkspace(p, slot, o);
  useTenantCredentials(p, tenant, ws);
  const open = () => (create ? Stack.createOrSelect(tenant, ws) : Stack.select(tenant, ws));
  return open()
    .catch((e: Error) => {
      // A checkpoint whose sidecar a kill left empty cannot be loaded, not even to select it, and
      // `fleet recover` (or the service's next try) must be able to open it: the empty sidecar goes.
      if (!/failed to load checkpoint/i.test(e.message)) throw e;
      const removed = removeEmptyCheckpointSidecars(ws.envVars.PULUMI_BACKEND_URL ?? "", tenant);
      if (!removed.length) throw e;
      process.stderr.write(`tenant ${tenant}: removed the empty checkpoint sidecar ${removed.join(", ")} (left by a kill mid-write)\n`);
      return open();
    })
    .catch((e: Error) => {
      throw new Error(
        !create && /no stack named|not found/i.test(e.message) ? `tenant ${tenant} has no stack yet (run fleet up)` : e.message,
      );
    });
}

/**
 * A kill in the middle of a checkpoint write can leave the file backend's `.attrs` sidecar of the
 * checkpoint empty (gocloud's fileblob writes it in place, apart from the checkpoint, which it
 * renames into place), and Pulumi then cannot load that stack at all ("failed to load checkpoint:
 * EOF"). An empty sidecar holds nothing: removing it loses nothing. Removes the stack's empty
 * sidecars in a `file://` backend (either layout, any project) and returns their paths.
 */
export function removeEmptyCheckpointSidecars(backendUrl: string, stack: string): string[] {
  if (!backendUrl.startsWith("file://")) return [];
  const root = path.join(backendUrl.slice("file://".length).replace(/^~(?=\/)/, process.env.HOME ?? "~"), ".pulumi", "stacks");
  if (!fs.existsSync(root)) return [];
  const dirs = [
    root,
    ...fs
      .readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(root, d.name)),
  ];
  const removed: string[] = [];
  for (const dir of dirs)
    for (const f of [`${stack}.json.attrs`, `${stack}.json.gz.attrs`].map((n) => path.join(dir, n)))
      if (fs.existsSync(f) && fs.statSync(f).size === 0) {
        fs.rmSync(f);
        removed.push(f);
      }
  return removed;
}

/** The workspace of pool slot 0, for backend-wide questions (every stack in the backend, the backend URL). */
export function fleetWorkspace(p: FleetProject, o: FleetEngineOptions = {}): Promise<LocalWorkspace> {
  return slotWorkspace(p, 0, o);
}
