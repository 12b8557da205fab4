/**
 * Ctrl-C during `fleet preview` or `fleet up` (run here, not on the queue): as `pulumi up` does,
 * the first stops the run gracefully and the second leaves at once.
 *
 * First Ctrl-C: no further tenant starts; each tenant running stops as a CLI run stops on Ctrl-C
 * (the engine finishes the operations under way, saves the stack and unlocks it) and ends failed;
 * the report lists the tenants not started and the command exits 130. The CLIs of `--no-inline`
 * runs are in this process's group and get the terminal's Ctrl-C themselves; the engine workers
 * lead their own groups, so they are interrupted here (scripts/lib/stacks/engine-workers.ts). Second Ctrl-C: this
 * process exits 130 at once; each worker still running a tenant interrupts its CLI (it sees this
 * process go) and ends with it, and a stack left mid-run may need `fleet recover`.
 */
import { interruptEngineWorkers } from "../../lib/stacks/engine-workers";

export interface CtrlC {
  interrupted(): boolean;
  /** Removes the handler (the command is done). */
  dispose(): void;
}

export function onCtrlC(command: string, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): CtrlC {
  let count = 0;
  const handler = () => {
    count++;
    if (count > 1) {
      write(`fleet ${command}: second Ctrl-C: leaving now; a tenant still running may leave its stack locked (fleet recover --tenant T)`);
      process.exit(130);
    }
    interruptEngineWorkers();
    write(
      `fleet ${command}: Ctrl-C: no more tenants start; the running ones stop as pulumi stops on Ctrl-C (the operations under way finish). Ctrl-C again to leave at once`,
    );
  };
  process.on("SIGINT", handler);
  return { interrupted: () => count > 0, dispose: () => process.off("SIGINT", handler) };
}
