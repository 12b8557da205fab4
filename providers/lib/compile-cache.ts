/**
 * Node's module compile cache (NODE_COMPILE_CACHE, set for the engine in
 * scripts/lib/engine/pulumi-env.ts) is written to disk when a process exits normally. The engine
 * kills its plugin processes (the policy pack, the dynamic-provider host) instead, so they call
 * this once their modules are loaded, or their cache would never be written and every preview
 * would compile them again. Does nothing when the cache is off or on a Node without it.
 */
import * as nodeModule from "module";

export function flushCompileCache(): void {
  (nodeModule as { flushCompileCache?: () => void }).flushCompileCache?.();
}
