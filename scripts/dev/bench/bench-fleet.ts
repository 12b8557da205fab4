/**
 * The fleet a fleet benchmark runs on: the Hostwinds and Cloudflare stand-ins started, a project
 * folder of N small tenants (each with its zone), a local backend of its own, the stand-ins'
 * environment given to this process (the fleet commands and workers take it from here), and one
 * `stop()` that puts the environment back, stops the stand-ins and removes the backend.
 */
import * as fs from "fs";
import * as path from "path";
import { devDir, workDirFor } from "../../lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../fleet-project";
import { HostwindsSim, HostwindsSimOptions } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";
import { standinEnv } from "../standins/env";

export interface BenchFleet {
  sim: HostwindsSim;
  cf: CloudflareSim;
  /** The project folder. */
  dir: string;
  /** The tenants, `<prefix>000…`. */
  ids: string[];
  /** The local backend's folder name (under the dev folder's backends/). */
  backend: string;
  stop(): Promise<void>;
}

export async function startBenchFleet(o: {
  /** Keeps this benchmark's folder, backend and keys apart from others'. */
  name: string;
  tenants: number;
  /** The tenant ids' first letter and digits (`m`, 4: m0000…). */
  prefix: string;
  digits: number;
  hostwinds?: Omit<HostwindsSimOptions, "apiKeys">;
  /** More environment for this process, given the backend's name. */
  env?: (backend: string) => Record<string, string>;
}): Promise<BenchFleet> {
  const key = `${o.name}-key-0123456789`;
  const cfToken = `${o.name}-cf-0123456789`;
  const sim = await new HostwindsSim({ apiKeys: [key], ...o.hostwinds }).start();
  const cf = await new CloudflareSim({ tokens: { [cfToken]: ["*"] } }).start();
  const backend = `${o.name}-${process.pid}`;
  const saved = { ...process.env };
  const dir = workDirFor(o.name);
  makeFleetProject(dir);
  const ids = Array.from({ length: o.tenants }, (_, i) => `${o.prefix}${String(i).padStart(o.digits, "0")}`);
  for (const t of ids) {
    cf.addZone(`${t}-mail.com`);
    writeSmallTenant(dir, t);
  }
  Object.assign(process.env, standinEnv(sim, key, cf, cfToken, o.env?.(backend)));
  return {
    sim,
    cf,
    dir,
    ids,
    backend,
    async stop() {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      await sim.stop();
      await cf.stop();
      fs.rmSync(path.join(devDir, "backends", backend), { recursive: true, force: true });
    },
  };
}
