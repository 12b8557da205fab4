/**
 * The provider object the Node dynamic-provider process uses for one compiled module: each call
 * loads the module's `provider` export (once) and forwards to it. The process reaches this file
 * through the `__provider` text of dynamic-resource.ts, so it loads only the client it serves,
 * found by path from the project root (where @pulumi/pulumi resolves). `configure` is forwarded,
 * so the implementation reads credentials from the stack's config instead of from anything in
 * state.
 *
 * Stacks made before dynamic-resource.ts hold a closure of an earlier copy of this function in
 * their state, serialized by pulumi.dynamic.Resource; it loads the same files by the same paths.
 */
import type * as pulumi from "@pulumi/pulumi";

export function lazyProvider(modulePath: string): pulumi.dynamic.ResourceProvider {
  let flushed = false;
  const load = (): pulumi.dynamic.ResourceProvider => {
    const p = require("path");
    const root = p.resolve(require.resolve("@pulumi/pulumi"), "..", "..", "..", "..");
    // Also in a destroy, which runs no program: a provider edited after the build would act as the old code did.
    if (!flushed)
      require(p.join(root, "dist", "providers", "lib", "fresh-build")).assertFreshBuild(`the provider ${modulePath}`, ["providers"]);
    const impl = require(p.join(root, modulePath)).provider;
    if (!flushed) {
      // The engine kills the provider process: write Node's compile cache now (compile-cache.ts).
      require(p.join(root, "dist", "providers", "lib", "compile-cache")).flushCompileCache();
      flushed = true;
    }
    return impl;
  };
  return {
    configure: async (req) => {
      const impl = load();
      if (impl.configure) await impl.configure(req);
    },
    check: (olds, news) => load().check!(olds, news),
    diff: (id, olds, news) => load().diff!(id, olds, news),
    create: (inputs) => load().create(inputs),
    read: (id, props) => load().read!(id, props),
    update: (id, olds, news) => load().update!(id, olds, news),
    delete: (id, props) => load().delete!(id, props),
  };
}
