/**
 * Run before each test file, in its Jest worker: where that worker keeps what is this machine's.
 * Test files run side by side (jest.config.js maxWorkers), one per worker at a time; each worker's
 * providers run in-process by unit tests take their writer leases (providers/lib/lease.ts) in the
 * worker's own folder, beside its Pulumi home and backends (scripts/lib/engine/pulumi-env.ts devDir),
 * so two files never wait on each other's lease.
 */
import * as path from "path";
import { devDir } from "../scripts/lib/engine/pulumi-env";

process.env.PENGUINMAILS_LEASE_DIR ||= path.join(devDir, "leases");
