/**
 * Stops the program after printing each line as an error: for a config mistake found while the
 * program runs (before or after the first resources are registered). It waits for the lines to
 * reach the engine and exits with Node's "already told the user" code rather than throwing: after
 * an uncaught error the SDK's open gRPC channels keep the process alive for about 30 s (measured
 * here), and an error only logged would let a preview pass.
 */
import * as pulumi from "@pulumi/pulumi";

export async function stopRun(lines: string[], resource?: pulumi.Resource): Promise<never> {
  await Promise.all(lines.map((l) => pulumi.log.error(l, resource)));
  process.exit(32);
}
