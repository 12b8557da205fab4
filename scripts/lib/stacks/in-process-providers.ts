/**
 * A preview's dynamic providers served inside the engine worker that runs the tenant program,
 * instead of a provider process the CLI starts per run (~0.25 s of CPU of each fleet preview's
 * ~1.1 s, issue 29). The CLI attaches to it through Pulumi's own switch for a provider that is
 * already running, PULUMI_DEBUG_PROVIDERS=<package>:<port> (pkg/resource/plugin/provider_plugin.go
 * GetProviderAttachPort: it dials the port, calls Attach, and never starts nor kills a process),
 * given to that run's CLI only, for the package of every dynamic resource here (`pulumi-nodejs`).
 *
 * What a provider process gives a run and this keeps per run:
 * - its own providers and config: a new service per run (providers/lib/dynamic-provider-host.ts,
 *   the same one the provider process serves), configured by that run's Configure;
 * - module state that starts empty (the Hostwinds session and its reads, the DNS zones read, the
 *   names and purchases of the run, writer leases): the provider modules the run loaded are dropped
 *   from Node's module cache after it, so the next run loads them afresh. Kept: the HTTP agents
 *   and rate limits and the API budget, which are per API and credential and meant to be shared by
 *   a process's calls, and the parsed checked-in catalogue;
 * - the tenant's environment and working folder, which the inline program already has for the run
 *   (./inline.ts withProgramEnv).
 * What differs: a provider's console output goes where the worker's does (the fleet's stderr), not
 * into the engine's diagnostics.
 *
 * Previews only: an `up` buys and releases, and keeps its provider process, whose exit is what ends
 * its writer leases and whose death the engine and `fleet recover` are built around.
 */
import * as path from "path";
import { serveProviders } from "../../../providers/lib/dynamic-provider-host";
import { projectOf } from "../../../providers/lib/lease";

/** The engine's package name for every `pulumi-nodejs:dynamic/…` resource. */
const DYNAMIC_PACKAGE = "pulumi-nodejs";

/** Provider modules whose state is per API or credential, or read-only: kept from run to run. */
const SHARED = ["lib/http.js", "lib/budget.js", "hostwinds/catalog.js", "lib/dynamic-provider-host.js"];

/**
 * Runs `fn` (one preview whose CLI gets the variables in `env`, the slot workspace's) with the
 * dynamic providers served in this process. An operator's own PULUMI_DEBUG_PROVIDERS naming
 * `pulumi-nodejs` wins: nothing is served then.
 */
export async function withInProcessProviders<T>(env: Record<string, string>, root: string, fn: () => Promise<T>): Promise<T> {
  const before = env.PULUMI_DEBUG_PROVIDERS;
  if (before?.split(",").some((p) => p.split(":")[0] === DYNAMIC_PACKAGE)) return fn();
  const served = await serveProviders({ project: projectOf(root), attached: true });
  env.PULUMI_DEBUG_PROVIDERS = [before, `${DYNAMIC_PACKAGE}:${served.port}`].filter(Boolean).join(",");
  try {
    return await fn();
  } finally {
    served.stop();
    if (before === undefined) delete env.PULUMI_DEBUG_PROVIDERS;
    else env.PULUMI_DEBUG_PROVIDERS = before;
    forgetProviderModules(codeRoot());
  }
}

/** Where the providers' compiled modules are: the root above the @pulumi/pulumi that loads them (as providers/lib/lazy-provider.ts finds it). */
const codeRoot = () => path.resolve(require.resolve("@pulumi/pulumi"), "..", "..", "..", "..");

/** Drops the provider modules under `root`/dist from Node's module cache (all but SHARED), first giving up any writer lease taken. */
export function forgetProviderModules(root: string): string[] {
  const dir = path.join(root, "dist", "providers") + path.sep;
  const lease = require.cache[path.join(dir, "lib", "lease.js")]?.exports as { useLeases?: (l: undefined) => void } | undefined;
  lease?.useLeases?.(undefined);
  const dropped = Object.keys(require.cache).filter((k) => k.startsWith(dir) && !SHARED.some((s) => k === path.join(dir, s)));
  for (const k of dropped) delete require.cache[k];
  return dropped;
}
