/**
 * `npm run fleet -- <command>`: the tenant stacks as a fleet, for operators and the pipelines in
 * .github/workflows/. Parses the command line, looks the command up in the table
 * (scripts/cli/fleet/cmd/: one module per command, with its help) and runs it.
 */
import { UsageError, parseCommand, usageError } from "../lib/args";
import { FLEET_COMMANDS, FLEET_OPTIONS, commandHelp, fleetHelp } from "./fleet/cmd";

export { shardOf } from "./fleet/cmd";

const HELP = fleetHelp(FLEET_COMMANDS);

/** Runs the command line; the exit status. */
async function main(argv = process.argv.slice(2)): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand({ name: "fleet", help: HELP, positionals: true, options: FLEET_OPTIONS }, argv);
  } catch (e) {
    if (e instanceof UsageError) usageError("fleet", e.message);
    throw e;
  }
  const { values: flags, positionals, help } = parsed;
  const [name, ...files] = positionals;
  const command = FLEET_COMMANDS.find((c) => c.name === name);
  if (help) {
    console.log(command ? commandHelp(command) : HELP);
    return 0;
  }
  if (!name) {
    console.error(HELP);
    return 2;
  }
  if (!command) usageError("fleet", `unknown command '${name}'`);
  if (!command.files && files.length) usageError("fleet", `unexpected argument '${files[0]}'`);
  return command.run({ command: name, flags, files, json: flags.json === true });
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`fleet: ${e.message}`);
      process.exit(1);
    },
  );
}
