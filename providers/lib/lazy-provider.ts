/**
 * Dynamic providers are serialized into every resource's state (`__provider`).
 * To keep that tiny, the serialized object holds only a module path and loads
 * the real implementation when the provider process first calls it. The path
 * is relative to the project root, found from where @pulumi/pulumi resolves,
 * so state carries no absolute paths and no code beyond these few lines.
 * `configure` is forwarded, so the implementation reads credentials from the
 * stack's config instead of from anything captured here.
 */
import * as pulumi from "@pulumi/pulumi";

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
