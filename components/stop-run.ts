/**
 * Stops the program after printing each line as an error: for a config mistake found while the
 * program runs (before or after the first resources are registered). It waits for the lines to
 * reach the engine and exits with Node's "already told the user" code rather than throwing: after
 * an uncaught error the SDK's open gRPC channels keep the process alive for about 30 s (measured
 * here), and an error only logged would let a preview pass.
 *
 * Run inline (an engine worker runs tenant programs in its own process, one after another:
 * scripts/lib/stacks/inline.ts sets PENGUINMAILS_INLINE_PROGRAM) it must not exit that process: it
 * throws a RunError instead, which fails the run (the Automation API's language server returns it
 * to the engine) with the lines already reported as errors.
 */
import * as pulumi from "@pulumi/pulumi";

export async function stopRun(lines: string[], resource?: pulumi.Resource): Promise<never> {
  await Promise.all(lines.map((l) => pulumi.log.error(l, resource)));
  if (process.env.PENGUINMAILS_INLINE_PROGRAM === "1") throw new pulumi.RunError("the run stopped: see the errors above");
  process.exit(32);
}
