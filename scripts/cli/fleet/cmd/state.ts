/** `fleet backup-state` and `fleet restore-state`: every stack's checkpoint in one archive, and back. */
import * as fs from "fs";
import { listOption } from "../../../lib/args";
import { ResticAccess, displayRepository } from "../../../lib/restic";
import { exportState, importState, loadStateArchive, stateRepository, storeStateArchive } from "../recovery";
import { FleetCommand, plural, selectFleet, usage } from "./command";
import type { FleetFlags } from "./flags";

/** The state repository from --repository / the environment, or undefined when none is set. */
function stateAccess(flags: FleetFlags): ResticAccess | undefined {
  const base = flags.repository ?? process.env.PENGUINMAILS_BACKUP_REPOSITORY;
  if (!base) return undefined;
  const password = process.env.PENGUINMAILS_STATE_PASSWORD;
  if (!password) usage("the state repository needs its password in PENGUINMAILS_STATE_PASSWORD");
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => /^(AWS_|B2_|AZURE_|GOOGLE_|OS_|ST_|RCLONE_)/.test(e[0]) && e[1] !== undefined,
    ),
  );
  return { repository: stateRepository(base), password, env };
}

export const backupState: FleetCommand = {
  name: "backup-state",
  summary: [
    "every stack's checkpoint (secrets stay encrypted) in one dated archive,",
    "stored in the state repository and/or written to --file",
  ],
  async run(inv) {
    const { flags } = inv;
    const { o, tenants } = selectFleet(inv);
    const access = stateAccess(flags);
    if (!access && typeof flags.file !== "string")
      usage("backup-state needs --repository URL (or PENGUINMAILS_BACKUP_REPOSITORY) and/or --file FILE");
    const r = await exportState(o, tenants);
    if (typeof flags.file === "string") fs.writeFileSync(flags.file, r.archive, { mode: 0o600 });
    const snap = access ? await storeStateArchive(access, r.archive, r.name) : undefined;
    console.log(
      `${r.name}: ${r.stacks.length} ${plural(r.stacks.length, "stack")} (${r.stacks.join(", ")}), ${r.archive.length} bytes` +
        `${snap ? `, snapshot ${snap} in ${displayRepository(access!.repository)}` : ""}${typeof flags.file === "string" ? `, written to ${flags.file}` : ""}` +
        `${r.missing.length ? `; never deployed: ${r.missing.join(", ")}` : ""}`,
    );
    return 0;
  },
};

export const restoreState: FleetCommand = {
  name: "restore-state",
  summary: [
    "imports the newest (or --snapshot) state archive, or --file, into the",
    "current backend, which must not hold those stacks yet",
  ],
  async run(inv) {
    const { flags } = inv;
    const { o } = selectFleet(inv);
    const access = stateAccess(flags);
    if (!access && typeof flags.file !== "string")
      usage("restore-state needs --repository URL (or PENGUINMAILS_BACKUP_REPOSITORY) or --file FILE");
    const { archive, from } = await loadStateArchive({ file: flags.file, access, snapshot: flags.snapshot });
    const restored = await importState(o, archive, listOption(flags.tenants));
    console.log(
      `restored ${restored.length} ${plural(restored.length, "stack")} (${restored.join(", ")}) from ${from}, made ${archive.createdAt}`,
    );
    return 0;
  },
};
