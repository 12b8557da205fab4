/** `fleet recover --tenant T`: after a killed run, the stack's lock and pending operations settled against the account. */
import { openTenantStack } from "../../../lib/stacks/stacks";
import { recoverStack } from "../recover";
import { FleetCommand, plural, selectFleet, usage } from "./command";

export const recover: FleetCommand = {
  name: "recover",
  synopsis: "recover --tenant T",
  summary: [
    "after a killed run: clears the stack's lock and pending operations by",
    "checking each against the Hostwinds account (a server bought → the next",
    "up adopts it; not bought → dropped; IP orders → settled by the next up),",
    "then pulumi cancel and refresh --clear-pending-creates (--dry-run: only say)",
  ],
  async run(inv) {
    const { flags, json } = inv;
    const { o } = selectFleet(inv);
    if (typeof flags.tenant !== "string") usage("recover needs --tenant <stack>");
    const stack = await openTenantStack(o.project, flags.tenant, 0, {}, false);
    const r = await recoverStack(stack, { dryRun: flags["dry-run"] === true, force: flags.force === true, log: o.log });
    if (json) console.log(JSON.stringify(r, null, 1));
    else
      console.log(
        `${r.stack}: ${r.lock}; ${r.pending.length} pending ${plural(r.pending.length, "operation")}${r.cleared ? "; cleared: run fleet up (or pulumi up) next" : " (dry run: nothing changed)"}`,
      );
    return 0;
  },
};
