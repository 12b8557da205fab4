/** `fleet matrix`: the selected tenants as a CI job matrix. */
import { intOption } from "../../../lib/args";
import { FleetCommand, selectFleet, shardOf } from "./command";

/** Past this many jobs GitHub refuses a matrix: --per-tenant falls back to shards. */
const GITHUB_MAX_JOBS = 256;

export const matrix: FleetCommand = {
  name: "matrix",
  summary: ['the selected tenants as a CI job matrix: {"include":[{"shard","tenants"}]}'],
  async run(inv) {
    const { flags } = inv;
    const { tenants } = selectFleet(inv);
    const perTenant = flags["per-tenant"] === true && tenants.length <= GITHUB_MAX_JOBS;
    const n = perTenant
      ? tenants.length
      : flags.shards
        ? intOption("fleet", "shards", flags.shards)!
        : Math.min(20, Math.max(1, Math.ceil(tenants.length / 25)));
    const shards = tenants.length
      ? Array.from({ length: n }, (_, k) => ({ shard: `${k + 1}/${n}`, tenants: shardOf(tenants, k + 1, n).join(",") })).filter(
          (s) => s.tenants,
        )
      : [];
    console.log(JSON.stringify({ include: shards }));
    return 0;
  },
};
