/** `fleet k8s-manifests`: Pulumi Kubernetes Operator Stack resources, one per tenant. */
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { stackManifests } from "../k8s";
import { FleetCommand, selectFleet, usage } from "./command";

/** The repository's top folder (the operator checks out the whole repository). */
function execGitTop(dir: string): string {
  try {
    return fs.realpathSync(
      execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(),
    );
  } catch {
    return dir;
  }
}

export const k8sManifests: FleetCommand = {
  name: "k8s-manifests",
  summary: ["Pulumi Kubernetes Operator Stack resources, one per tenant (YAML on stdout)"],
  async run(inv) {
    const { flags } = inv;
    const { o, tenants } = selectFleet(inv);
    if (typeof flags.repo !== "string") usage("k8s-manifests needs --repo <git URL of this project>");
    console.log(
      stackManifests(tenants, {
        repo: flags.repo,
        branch: flags.branch,
        namespace: flags.namespace,
        backend: flags.backend ?? process.env.PULUMI_BACKEND_URL,
        credentialsSecret: flags.credentials,
        repoDir: path.relative(execGitTop(o.project.root), o.project.root) || undefined,
      }),
    );
    return 0;
  },
};
