/** The fleet's commands, in the order its help lists them: name → help and handler, one module each. */
import type { FleetCommand } from "./command";
import { list } from "./list";
import { preview, up } from "./preview";
import { drift } from "./drift";
import { orphans } from "./orphans";
import { recover } from "./recover";
import { verify } from "./verify";
import { matrix } from "./matrix";
import { report } from "./report";
import { k8sManifests } from "./k8s-manifests";
import { worker } from "./worker";
import { catalog } from "./catalog";
import { probe } from "./probe";
import { backup, rebuild, restore } from "./backup";
import { backupState, restoreState } from "./state";

export const FLEET_COMMANDS: FleetCommand[] = [
  list,
  preview,
  up,
  drift,
  orphans,
  recover,
  verify,
  matrix,
  report,
  k8sManifests,
  worker,
  probe,
  catalog,
  backup,
  restore,
  rebuild,
  backupState,
  restoreState,
];

export type { FleetCommand, Invocation } from "./command";
export { shardOf } from "./command";
export { FLEET_OPTIONS } from "./flags";
export { commandHelp, fleetHelp } from "./help";
