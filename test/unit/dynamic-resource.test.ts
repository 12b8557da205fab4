/**
 * A dynamic resource's `__provider` (providers/lib/dynamic-resource.ts): fixed text that the
 * Node dynamic-provider host loads as a module (require-from-string, then `handler()`), which
 * finds the project root from @pulumi/pulumi and hands back lazy-provider.ts's provider for the
 * compiled module by path. The engine tests run it for real; here the text is run with a stand-in
 * `require` to see what it loads.
 */
import * as path from "path";
import { providerSource } from "../../providers/lib/dynamic-resource";

function runHandler(text: string, root: string) {
  const loaded: string[] = [];
  const fakeRequire = Object.assign(
    (id: string) => {
      loaded.push(id);
      if (id === "path") return path;
      if (id === path.join(root, "dist", "providers", "lib", "lazy-provider")) return { lazyProvider: (m: string) => ({ servedBy: m }) };
      throw new Error(`unexpected require of ${id}`);
    },
    { resolve: (id: string) => (id === "@pulumi/pulumi" ? path.join(root, "node_modules", "@pulumi", "pulumi", "index.js") : "") },
  );
  const module = { exports: {} as { handler?: () => unknown } };
  new Function("exports", "require", "module", text)(module.exports, fakeRequire, module);
  return { provider: module.exports.handler!(), loaded };
}

describe("dynamic resource provider text", () => {
  test("loads only lazy-provider from the project root, for the module it names", () => {
    const text = providerSource("dist/providers/hostwinds/instance");
    const { provider, loaded } = runHandler(text, "/srv/project");
    expect(provider).toEqual({ servedBy: "dist/providers/hostwinds/instance" });
    expect(loaded).toEqual(["path", "/srv/project/dist/providers/lib/lazy-provider"]);
  });

  test("is the same text for the same module (state does not change from run to run) and holds no absolute path", () => {
    expect(providerSource("dist/providers/dkim/key")).toBe(providerSource("dist/providers/dkim/key"));
    expect(providerSource("dist/providers/dkim/key")).not.toMatch(/"\//);
    expect(Buffer.byteLength(providerSource("dist/providers/hostwinds/secondary-ip"))).toBeLessThan(512);
  });

  test("refuses a path that is not a compiled module under dist/", () => {
    for (const bad of ["providers/dkim/key.ts", "/abs/dist/x", "dist/../x", 'dist/x"); process.exit(1); ("'])
      expect(() => providerSource(bad)).toThrow(/compiled module's path from the project root/);
  });
});
