/**
 * A fleet project folder for tests and benchmarks: Pulumi.yaml with its stack configs in
 * `stacks/`, an index.js that loads the compiled tenant program from dist/, and one small
 * tenant (one server, N sending IPs, MailU off) per stack config.
 */
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { NODEJS_RUNTIME, projectRoot } from "../lib/engine/pulumi-env";

/** Empties `dir` and makes it a fleet project of the tenant program (of the checkout at `root`; default this one). */
export function makeFleetProject(dir: string, root = projectRoot): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: penguinmails-infra\n${NODEJS_RUNTIME}main: index.js\nstackConfigDir: stacks\n`);
  fs.writeFileSync(
    path.join(dir, "index.js"),
    `module.exports = require(${JSON.stringify(path.relative(dir, path.join(root, "dist", "stacks")))});\n`,
  );
}

export interface SmallTenant {
  sendingIps?: number;
  /** More stack config (plain keys such as penguinmails-infra:hostwindsAccount). */
  config?: Record<string, unknown>;
  /** The passphrase secrets provider's salt (clones of a stack share its salt). */
  encryptionsalt?: string;
}

/** The stack config file of a small starter tenant whose zone is `<id>-mail.com`. */
export function smallTenantYaml(id: string, o: SmallTenant = {}): string {
  return stringify({
    ...(o.encryptionsalt ? { encryptionsalt: o.encryptionsalt } : {}),
    config: {
      "penguinmails-infra:installMailu": false,
      "penguinmails-infra:tenant": {
        id,
        tier: "starter",
        monthlyBudgetUsd: 25,
        zone: `${id}-mail.com`,
        domains: [{ name: `${id}-mail.com` }],
        servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: o.sendingIps ?? 1 }],
      },
      ...o.config,
    },
  });
}

export function writeSmallTenant(dir: string, id: string, o: SmallTenant = {}): void {
  fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${id}.yaml`), smallTenantYaml(id, o));
}
