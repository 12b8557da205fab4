/** Pulumi Kubernetes Operator Stack manifests: one per tenant, fitting the CRD as we read it. */
import { parseAllDocuments } from "yaml";
import { checkStackManifest, stackManifest, stackManifests } from "../../scripts/cli/fleet/k8s";

describe("Kubernetes operator manifests", () => {
  const o = { repo: "https://git.example.com/ops/penguinmails-infra.git", namespace: "pulumi", backend: "s3://state-bucket" };

  test("one Stack per tenant, each fitting the CRD; credentials only as Secret references", () => {
    const docs = parseAllDocuments(stackManifests(["acme", "globex", "initech"], o)).map((d) => d.toJS()) as Array<Record<string, unknown>>;
    expect(docs.map((d) => (d.metadata as { name: string }).name)).toEqual(["tenant-acme", "tenant-globex", "tenant-initech"]);
    for (const d of docs) expect(checkStackManifest(d)).toEqual([]);
    const spec = docs[0].spec as Record<string, unknown>;
    expect(spec).toMatchObject({
      stack: "acme",
      projectRepo: o.repo,
      branch: "main",
      backend: "s3://state-bucket",
      refresh: true,
      destroyOnFinalize: false,
    });
    expect(spec.envRefs).toEqual({
      HOSTWINDS_API_KEY: { type: "Secret", secret: { name: "penguinmails-credentials", key: "HOSTWINDS_API_KEY" } },
      CLOUDFLARE_API_TOKEN: { type: "Secret", secret: { name: "penguinmails-credentials", key: "CLOUDFLARE_API_TOKEN" } },
      PULUMI_CONFIG_PASSPHRASE: { type: "Secret", secret: { name: "penguinmails-credentials", key: "PULUMI_CONFIG_PASSPHRASE" } },
    });
  });

  test("the check catches what the CRD would refuse", () => {
    const m = stackManifest("acme", o) as { spec: Record<string, unknown> };
    m.spec.refreshh = true;
    m.spec.resyncFrequencySeconds = "600";
    m.spec.commit = "abc123";
    (m.spec.envRefs as Record<string, unknown>).X = { type: "Vault" };
    expect(checkStackManifest(m)).toEqual([
      "spec.resyncFrequencySeconds must be integer, is string",
      "spec.refreshh is not a field of the Stack CRD",
      "exactly one of spec.branch and spec.commit",
      "spec.envRefs.X.type must be one of Env, FS, Secret, Literal",
    ]);
  });
});
