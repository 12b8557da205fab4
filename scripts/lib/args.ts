/**
 * The one argument parser of the project's commands (fleet, verify, service, demo, sim, bench):
 * Node's own `util.parseArgs`, strict, with the house conventions on top: `-h/--help` prints the
 * command's help and exits 0; a mistake prints `<command>: <what is wrong> (see --help)` and exits 2.
 */
import { parseArgs } from "util";

export interface Option {
  type: "string" | "boolean";
  short?: string;
  /** The option may be given more than once (its value is then a list). */
  multiple?: boolean;
}

export interface CommandSpec<O extends Record<string, Option>> {
  /** The command's name as the user types it after `npm run` (fleet, verify, …). */
  name: string;
  help: string;
  options: O;
  /** Whether bare words (a subcommand, files) are allowed; default no. */
  positionals?: boolean;
}

type Value<T extends Option> = T["type"] extends "string"
  ? T["multiple"] extends true
    ? string[]
    : string
  : T["multiple"] extends true
    ? boolean[]
    : boolean;
export type Values<O extends Record<string, Option>> = { [K in keyof O]?: Value<O[K]> };

export class UsageError extends Error {}

/** Parses without exiting: throws UsageError for a mistake; `help` is true when help was asked for. */
export function parseCommand<O extends Record<string, Option>>(
  spec: CommandSpec<O>,
  argv: string[],
): { values: Values<O>; positionals: string[]; help: boolean } {
  const options = { ...spec.options, help: { type: "boolean", short: "h" } } as Record<string, Option>;
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: spec.positionals ?? false, strict: true });
    const { help, ...values } = r.values as Record<string, unknown>;
    return { values: values as Values<O>, positionals: r.positionals, help: help === true };
  } catch (e) {
    // parseArgs' messages name the option ("Unknown option '--x'", "Option '--y <value>' argument missing").
    throw new UsageError((e as Error).message.split("\n")[0].replace(/\. To specify a positional argument.*$/, ""));
  }
}

/** The command line of this process, parsed; prints help or a usage error and exits as the house does. */
export function parseCommandLine<O extends Record<string, Option>>(
  spec: CommandSpec<O>,
  argv = process.argv.slice(2),
): { values: Values<O>; positionals: string[] } {
  try {
    const r = parseCommand(spec, argv);
    if (r.help) {
      console.log(spec.help);
      process.exit(0);
    }
    return r;
  } catch (e) {
    if (e instanceof UsageError) usageError(spec.name, e.message);
    throw e;
  }
}

/** Stops the command with a usage mistake: `<name>: <message> (see --help)`, exit status 2. */
export function usageError(name: string, message: string): never {
  console.error(`${name}: ${message} (see --help)`);
  process.exit(2);
}

/** A comma-separated list option as a list (undefined when not given). */
export function listOption(v: string | undefined): string[] | undefined {
  return v === undefined
    ? undefined
    : v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
}

/** A whole-number option at least `min`, or a usage error naming it. */
export function intOption(name: string, option: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usageError(name, `--${option} must be a whole number of at least ${min} (got '${v}')`);
  return n;
}

/** A duration option: a whole number with a unit, `s`, `m`, `h` or `d` (`90s`, `10m`, `1d`), as milliseconds. */
export function durationOption(name: string, option: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)(s|m|h|d)$/.exec(v.trim());
  if (!m) usageError(name, `--${option} must be a duration such as 90s, 10m, 24h or 2d (got '${v}')`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
}
