/** `npm run fleet`'s command table (scripts/cli/fleet/cmd/): one help for all, one per command, both from the table. */
import { FLEET_COMMANDS, FLEET_OPTIONS, commandHelp, fleetHelp } from "../../scripts/cli/fleet/cmd";
import { listTable } from "../../scripts/cli/fleet/cmd/list";

const help = fleetHelp(FLEET_COMMANDS);

describe("fleet's command table", () => {
  test("the help lists every command once, in the table's order, and nothing else", () => {
    const listed = [...help.split("\noptions:")[0].matchAll(/^ {2}([a-z0-9-]+)/gm)].map((m) => m[1]);
    expect(listed).toEqual(FLEET_COMMANDS.map((c) => c.name));
    expect(new Set(listed).size).toBe(listed.length);
  });

  test("every option the parser accepts is in the help", () => {
    for (const name of Object.keys(FLEET_OPTIONS)) expect([name, help.includes(`--${name}`)]).toEqual([name, true]);
  });

  test.each(FLEET_COMMANDS.map((c) => [c.name, c] as const))("%s --help: its usage, its summary, only options of the help", (name, c) => {
    const own = commandHelp(c);
    expect(own).toMatch(new RegExp(`^usage: npm run fleet -- ${name}( |$)`, "m"));
    expect(own).toContain(c.summary.join("\n"));
    const options = own.split("\noptions:\n")[1].split("\n\n")[0].split("\n");
    for (const l of options.filter((x) => /^ {2}-/.test(x))) expect(help).toContain(l);
    expect(options.at(-1)).toMatch(/^ {2}-h, --help/);
  });

  test("list's table: a row per tenant and the totals", () => {
    const rows = listTable([
      { tenant: "acme", servers: 1, sendingIps: 2, monthlyCostUsd: 14.97, lastUpdate: "2026-11-30T10:00:00.000Z", drift: "clean" },
      { tenant: "globex", servers: 2, sendingIps: 5, monthlyCostUsd: 40, drift: "error", error: "no checkpoint" },
    ] as Parameters<typeof listTable>[0]);
    expect(rows[1]).toMatch(/^acme\s+1\s+2\s+\$14\.97\s+2026-11-30T10:00:00\.000Z\s+clean$/);
    expect(rows[2]).toMatch(/^globex\s+2\s+5\s+\$40\.00\s+never\s+error \(no checkpoint\)$/);
    expect(rows[3]).toMatch(/^total\s+3\s+7\s+\$54\.97$/);
  });
});
