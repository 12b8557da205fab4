/** What every fleet command takes: the project, which tenants, how many at once, and where to report. */
import { FleetEngineOptions } from "../../lib/stacks/stacks";
import { FleetProject } from "../../lib/stacks/tenants";
import { PoolProgress } from "./pool";

export interface FleetOptions extends FleetEngineOptions {
  project: FleetProject;
  /** Only these tenants (default: every tenant, or the changed ones with changedSince). */
  tenants?: string[];
  changedSince?: string;
  concurrency?: number;
  /** Policy pack folders to run with preview and up. */
  policyPacks?: string[];
  /** up: refresh first (a server lost behind the stack's back is then rebuilt). */
  refresh?: boolean;
  onProgress?: (p: PoolProgress) => void;
  /** Checked before each tenant starts: once true, no further tenant starts (Ctrl-C: ./interrupt.ts). */
  stopped?: () => boolean;
  log?: (line: string) => void;
}
