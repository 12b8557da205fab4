/**
 * A fleet project on the stand-ins for the engine tests that drive the fleet commands in this
 * process (`fleetUp`/`fleetPreview`, inline engine workers): the Hostwinds and Cloudflare
 * stand-ins started, their environment given to this process (the fleet commands give the engine
 * and the workers this process's environment), a project folder with small tenants, a local
 * backend of its own, and one teardown that puts everything back.
 */
import * as fs from "fs";
import * as path from "path";
import type { Stack } from "@pulumi/pulumi/automation";
import { devDir, projectRoot, workDirFor } from "../../scripts/lib/engine/pulumi-env";
import { makeFleetProject, SmallTenant, writeSmallTenant } from "../../scripts/dev/fleet-project";
import { HostwindsSim, HostwindsSimOptions } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { standinEnv } from "../../scripts/dev/standins/env";
import { FleetOptions } from "../../scripts/cli/fleet/commands";
import { stopEngineWorkers } from "../../scripts/lib/stacks/engine-workers";
import { openTenantStack } from "../../scripts/lib/stacks/stacks";
import { fleetProject } from "../../scripts/lib/stacks/tenants";

export interface StandinFleet {
  sim: HostwindsSim;
  cf: CloudflareSim;
  /** The Hostwinds account's API key (the stand-in's ledger is kept per key). */
  key: string;
  /** The project folder (the fleet CLI's --root). */
  root: string;
  /** The environment the fleet CLI needs to find this fleet's backend (beside this process's). */
  cliEnv(): NodeJS.ProcessEnv;
  /** Options for the fleet commands: one tenant at a time, this fleet's backend, the policy pack. */
  options(o: { inline: boolean }): FleetOptions;
  /** A tenant's stack in this fleet's backend (not created if missing). */
  stackOf(tenant: string): Promise<Stack>;
  /** Stops the engine workers, destroys `tenants`' stacks, restores the environment, stops the stand-ins. */
  stop(tenants: string[]): Promise<void>;
}

/** `name` keeps this fleet's folders, backend and keys apart from other tests'. */
export async function startStandinFleet(
  name: string,
  hostwinds: HostwindsSimOptions,
  tenants: Record<string, SmallTenant>,
): Promise<StandinFleet> {
  const key = `sim-key-${name}-0123456789`;
  const cfToken = `sim-cf-token-${name}-0123456789`;
  const backend = `${name}-${process.pid}`;
  const dir = workDirFor(`${name}-${process.pid}`);
  const saved = { ...process.env };
  const sim = await new HostwindsSim({ apiKeys: [key], ...hostwinds }).start();
  const cf = await new CloudflareSim({ tokens: { [cfToken]: ["*"] } }).start();
  Object.assign(process.env, standinEnv(sim, key, cf, cfToken));
  makeFleetProject(dir);
  for (const [t, o] of Object.entries(tenants)) {
    cf.addZone(`${t}-mail.com`);
    writeSmallTenant(dir, t, o);
  }
  const stackOf = (tenant: string) => openTenantStack(fleetProject(dir), tenant, 0, { localBackend: backend }, false);
  return {
    sim,
    cf,
    key,
    root: dir,
    cliEnv: () => ({ ...process.env, PULUMI_BACKEND_URL: `file://${path.join(devDir, "backends", backend)}` }),
    options: ({ inline }) => ({
      project: fleetProject(dir),
      concurrency: 1,
      localBackend: backend,
      policyPacks: [path.join(projectRoot, "policies")],
      inline,
    }),
    stackOf,
    async stop(destroy) {
      await stopEngineWorkers();
      for (const t of destroy) {
        const s = await stackOf(t).catch(() => undefined);
        if (s) await s.destroy().catch(() => undefined);
      }
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      await sim.stop();
      await cf.stop();
      fs.rmSync(path.join(devDir, "backends", backend), { recursive: true, force: true });
    },
  };
}
