/**
 * The base of every dynamic resource here: a resource of the engine's Node dynamic provider
 * (`pulumi-nodejs:dynamic/<module>:<type>`) whose `__provider` is a few fixed lines that load the
 * compiled module serving it, by path, when the provider process first calls it (lazy-provider.ts).
 *
 * `pulumi.dynamic.Resource` makes `__provider` by serializing a closure of the provider object
 * (@pulumi/pulumi dynamic/index.js → runtime/closure/serializeClosure): it loads TypeScript to parse
 * each function's text and asks V8's inspector for every captured variable, once per resource
 * (its cache is per provider object), measured at ~0.24 s for the first and ~0.05 s for each
 * later one. The result here is the same kind of text — a module whose `handler()` returns the
 * provider, which the provider host loads with `require-from-string`
 * (cmd/dynamic-provider/index.js) — written directly, so the program never loads the serializer.
 * Everything else is what `pulumi.dynamic.Resource` does: a CustomResource of that type with
 * `__provider` among its inputs.
 *
 * Stacks made before this hold the serialized closure of lazy-provider.ts in their state, and a
 * destroy or a read uses it: it loads `dist/providers/lib/fresh-build`, `dist/providers/lib/
 * compile-cache` and the `provider` export of the module path, so those stay where they are. A
 * changed `__provider` is not a change: every provider's `diff` here compares named inputs only.
 */
import * as pulumi from "@pulumi/pulumi";

/**
 * The `__provider` text for the compiled module at `modulePath` (relative to the project root,
 * e.g. `dist/providers/hostwinds/instance`, exporting `provider`). The root is found from where
 * `@pulumi/pulumi` resolves in the provider process, so state holds no absolute path.
 */
export function providerSource(modulePath: string): string {
  if (!/^dist\/[a-z0-9/-]+$/.test(modulePath))
    throw new Error(
      `dynamic provider module ${JSON.stringify(modulePath)}: give the compiled module's path from the project root, e.g. dist/providers/dkim/key`,
    );
  return [
    "exports.handler = function () {",
    "  // penguinmails-infra: the provider is the compiled module below, loaded on first call (providers/lib/dynamic-resource.ts).",
    '  const path = require("path");',
    '  const root = path.resolve(require.resolve("@pulumi/pulumi"), "..", "..", "..", "..");',
    `  return require(path.join(root, "dist", "providers", "lib", "lazy-provider")).lazyProvider(${JSON.stringify(modulePath)});`,
    "};",
    "",
  ].join("\n");
}

/** A dynamic resource served by the compiled module at `modulePath` (see providerSource). */
export class DynamicResource extends pulumi.CustomResource {
  constructor(
    modulePath: string,
    name: string,
    props: pulumi.Inputs,
    opts: pulumi.CustomResourceOptions | undefined,
    module: string,
    type: string,
  ) {
    if ("__provider" in props)
      throw new Error(`${module}:${type} ${name}: __provider is set by the resource itself; remove it from the inputs`);
    super(`pulumi-nodejs:dynamic/${module}:${type}`, name, { ...props, __provider: providerSource(modulePath) }, opts);
  }
}
