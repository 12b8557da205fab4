/** `fleet worker`: runs fleet jobs from the Postgres queue until stopped. */
import { fleetWorker } from "../queue";
import { FleetCommand, inlineEngine, selectFleet, usage } from "./command";

export const worker: FleetCommand = {
  name: "worker",
  summary: [
    "runs fleet jobs from the Postgres queue (--database), --concurrency at a",
    "time, until stopped; any number of workers on any machine that reaches the",
    "same Postgres and the same Pulumi backend",
  ],
  async run(inv) {
    const { database, concurrency } = selectFleet(inv);
    if (!database) usage("worker needs --database URL (or PENGUINMAILS_DATABASE_URL)");
    await fleetWorker({
      url: database,
      concurrency: concurrency ?? 1,
      inline: inlineEngine(inv.flags),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    return 0;
  },
};
