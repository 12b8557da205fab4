/** `fleet verify`: npm run verify's deliverability checks for every deployed tenant. */
import { listOption } from "../../../lib/args";
import { renderTable } from "../../../lib/verify/result";
import { fleetVerify } from "../commands";
import { FleetCommand, selectFleet } from "./command";

export const verify: FleetCommand = {
  name: "verify",
  summary: [
    "npm run verify's deliverability checks for every deployed tenant",
    "(--resolvers a,b, --blocklists a,b, --no-smtp as in verify)",
  ],
  async run(inv) {
    const { flags, json } = inv;
    const { o, tenants } = selectFleet(inv);
    const results = await fleetVerify(o, tenants, {
      resolvers: listOption(flags.resolvers),
      blocklists: listOption(flags.blocklists),
      smtp: flags["no-smtp"] ? false : {},
    });
    if (json) console.log(JSON.stringify({ tenants: results }, null, 1));
    else
      for (const t of results)
        console.log(
          t.error
            ? `${t.tenant}: could not verify: ${t.error}`
            : `${t.tenant}:\n${renderTable(t.results)
                .split("\n")
                .map((l) => `  ${l}`)
                .join("\n")}`,
        );
    return results.some((t) => t.error || t.results.some((r) => r.status === "fail")) ? 1 : 0;
  },
};
