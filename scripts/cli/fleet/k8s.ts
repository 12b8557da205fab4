/**
 * Pulumi Kubernetes Operator `Stack` resources (pulumi.com/v1), one per
 * tenant, for operators who run the fleet on Kubernetes: each tenant becomes
 * a Stack the operator reconciles from git in its own workspace pod, so the
 * fleet fans out over the operator instead of a scheduler of ours.
 *
 * STACK_SPEC is our reading of the operator's published CRD
 * (config/crd/bases/pulumi.com_stacks.yaml, v2, read at commit 03a57ff): the
 * fields we set and their types. The CRD itself cannot be fetched where the
 * tests run (its Go module answers 403 on the module proxy), so the tests
 * check our manifests against this reading.
 */
import { stringify } from "yaml";

export const STACK_API_VERSION = "pulumi.com/v1";

type FieldType = "string" | "boolean" | "integer" | "object" | "array";
/** spec fields of the Stack CRD that we use, with their schema types. */
export const STACK_SPEC: Record<string, FieldType> = {
  stack: "string",
  projectRepo: "string",
  branch: "string",
  commit: "string",
  repoDir: "string",
  backend: "string",
  secretsProvider: "string",
  refresh: "boolean",
  expectNoRefreshChanges: "boolean",
  continueResyncOnCommitMatch: "boolean",
  destroyOnFinalize: "boolean",
  retryOnUpdateConflict: "boolean",
  resyncFrequencySeconds: "integer",
  envRefs: "object",
  driftDetection: "object",
  preview: "boolean",
};
/** envRefs selector types the CRD allows. */
export const ENV_REF_TYPES = ["Env", "FS", "Secret", "Literal"];

export interface ManifestOptions {
  /** The git repository the operator fetches (this project). */
  repo: string;
  branch?: string;
  /** Where Pulumi.yaml is inside the repository. */
  repoDir?: string;
  namespace?: string;
  /** State backend URL (e.g. s3://…); the operator's default otherwise. */
  backend?: string;
  secretsProvider?: string;
  /** Kubernetes Secret holding HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN and PULUMI_CONFIG_PASSPHRASE. */
  credentialsSecret?: string;
  /** Drift check schedule (cron); never remediated automatically: a person reviews drift. */
  driftCron?: string;
}

const CREDENTIALS = ["HOSTWINDS_API_KEY", "CLOUDFLARE_API_TOKEN", "PULUMI_CONFIG_PASSPHRASE"];

export function stackManifest(tenant: string, o: ManifestOptions): Record<string, unknown> {
  const secret = o.credentialsSecret ?? "penguinmails-credentials";
  return {
    apiVersion: STACK_API_VERSION,
    kind: "Stack",
    metadata: {
      name: `tenant-${tenant}`,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      labels: { "app.kubernetes.io/part-of": "penguinmails-infra", "penguinmails.io/tenant": tenant },
    },
    spec: {
      stack: tenant,
      projectRepo: o.repo,
      branch: o.branch ?? "main",
      ...(o.repoDir ? { repoDir: o.repoDir } : {}),
      ...(o.backend ? { backend: o.backend } : {}),
      ...(o.secretsProvider ? { secretsProvider: o.secretsProvider } : {}),
      // The same checks as `fleet drift` before each update; a stack whose resources moved stops.
      refresh: true,
      // Deleting the Stack resource must never release a tenant's servers and IPs.
      destroyOnFinalize: false,
      continueResyncOnCommitMatch: false,
      resyncFrequencySeconds: 600,
      envRefs: Object.fromEntries(CREDENTIALS.map((k) => [k, { type: "Secret", secret: { name: secret, key: k } }])),
      driftDetection: { schedules: [{ cron: o.driftCron ?? "17 3 * * *", autoRemediate: false }] },
    },
  };
}

/** One YAML document per tenant, for `kubectl apply -f`. */
export function stackManifests(tenants: string[], o: ManifestOptions): string {
  return tenants.map((t) => stringify(stackManifest(t, o), { lineWidth: 120, aliasDuplicateObjects: false })).join("---\n");
}

/** Problems of a manifest against STACK_SPEC (empty when it fits). */
export function checkStackManifest(m: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (m.apiVersion !== STACK_API_VERSION) out.push(`apiVersion must be ${STACK_API_VERSION}`);
  if (m.kind !== "Stack") out.push("kind must be Stack");
  const name = (m.metadata as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string" || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
    out.push(`metadata.name "${String(name)}" is not a Kubernetes name`);
  const spec = (m.spec ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(spec)) {
    const t = STACK_SPEC[k];
    const actual = Array.isArray(v) ? "array" : Number.isInteger(v) ? "integer" : typeof v;
    if (!t) out.push(`spec.${k} is not a field of the Stack CRD`);
    else if (t !== actual && !(t === "object" && actual === "object")) out.push(`spec.${k} must be ${t}, is ${actual}`);
  }
  if (typeof spec.stack !== "string") out.push("spec.stack is required");
  if ((spec.branch === undefined) === (spec.commit === undefined)) out.push("exactly one of spec.branch and spec.commit");
  for (const [k, ref] of Object.entries(
    (spec.envRefs ?? {}) as Record<string, { type?: string; secret?: { name?: string; key?: string } }>,
  )) {
    if (!ENV_REF_TYPES.includes(ref.type ?? "")) out.push(`spec.envRefs.${k}.type must be one of ${ENV_REF_TYPES.join(", ")}`);
    if (ref.type === "Secret" && (!ref.secret?.name || !ref.secret?.key)) out.push(`spec.envRefs.${k}.secret needs name and key`);
  }
  if (typeof spec.resyncFrequencySeconds === "number" && spec.resyncFrequencySeconds < 60)
    out.push("spec.resyncFrequencySeconds must be at least 60");
  return out;
}
