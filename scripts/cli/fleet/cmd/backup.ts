/** `fleet backup`, `fleet restore` and `fleet rebuild`: one server of one tenant, over SSH. */
import { selectTenants } from "../commands";
import { backupServerNow, rebuildInPlace, restoreServer } from "../recovery";
import { FleetCommand, Invocation, selectFleet, usage } from "./command";

/** The fleet, the tenant (checked to be one of its stacks) and the server the command names. */
function oneServer(inv: Invocation) {
  const { command, flags } = inv;
  const { o } = selectFleet(inv);
  if (typeof flags.tenant !== "string" || typeof flags.server !== "string") usage(`${command} needs --tenant T --server S`);
  selectTenants({ ...o, tenants: [flags.tenant] });
  return { o, tenant: flags.tenant, server: flags.server };
}

async function backupOrRestore(inv: Invocation): Promise<number> {
  const { o, tenant, server } = oneServer(inv);
  const r =
    inv.command === "backup"
      ? await backupServerNow(o, tenant, server)
      : await restoreServer(o, tenant, server, inv.flags.snapshot ?? "latest");
  console.log(r.output);
  process.stderr.write(`fleet ${inv.command}: ${r.tenant}/${r.server} ${r.ok ? "done" : "FAILED"} in ${(r.ms / 1000).toFixed(1)} s\n`);
  return r.ok ? 0 : 1;
}

export const backup: FleetCommand = {
  name: "backup",
  summary: ["run a server's backup now (--tenant T --server S), as its timer does daily"],
  run: backupOrRestore,
};

export const restore: FleetCommand = {
  name: "restore",
  summary: [
    "restore a server's MailU data (--tenant T --server S [--snapshot ID]); MailU",
    "is stopped meanwhile. A lost server is rebuilt by 'up --refresh' instead,",
    "which restores its newest snapshot before MailU starts",
  ],
  run: backupOrRestore,
};

export const rebuild: FleetCommand = {
  name: "rebuild",
  summary: [
    "rebuild a broken server's OS on the same VPS (--tenant T --server S):",
    "Hostwinds' reinstall keeps its IPs (no warm-up restart), then its SSH steps",
    "rerun, restoring its newest snapshot before MailU starts",
  ],
  async run(inv) {
    const { o, tenant, server } = oneServer(inv);
    const r = await rebuildInPlace(o, tenant, server);
    console.log(
      `${r.tenant}/${r.server}: rebuilt in place (server ${r.serviceId}, main IP ${r.mainIp} kept, sending IPs kept: no warm-up restart) in ${(r.ms / 1000).toFixed(1)} s`,
    );
    return 0;
  },
};
