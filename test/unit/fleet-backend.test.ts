/**
 * Reading a DIY backend directly (scripts/cli/fleet/backend.ts): the Postgres backend's URL as the
 * CLI reads it (table, key prefix), and a backend folder's stacks and checkpoints in every form the
 * CLI writes (plain, gzip, zstd; `.bak` copies and other files are not stacks; the older layout).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { postgresBackend, stateStore } from "../../scripts/cli/fleet/backend";

const checkpoint = (stack: string) => JSON.stringify({ version: 3, checkpoint: { stack, latest: { resources: [] } } });

describe("the state backend read directly", () => {
  test("a postgres:// URL: the table (default pulumi_state), the database name as key prefix, the rest for the driver", () => {
    expect(postgresBackend("postgres://u:p%40ss@db.internal:5433/pm?sslmode=require&table=state")).toEqual({
      table: "state",
      prefix: "pm/",
      connection: "postgres://u:p%40ss@db.internal:5433/pm?sslmode=require",
    });
    expect(postgresBackend("postgres://postgres@/postgres?host=%2Frun%2Fpg&sslmode=disable")).toEqual({
      table: "pulumi_state",
      prefix: "postgres/",
      connection: "postgres://postgres@/postgres?host=%2Frun%2Fpg&sslmode=disable",
    });
    expect(postgresBackend("postgres://").prefix).toBe("");
    expect(() => postgresBackend("postgres://h/db?table=x;drop")).toThrow(/table "x;drop" is not a plain table name/);
  });

  test("a backend folder in project mode: plain, gzip and zstd checkpoints are stacks, .bak and .attrs are not", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-backend-"));
    try {
      const stacks = path.join(dir, ".pulumi", "stacks", "proj");
      fs.mkdirSync(stacks, { recursive: true });
      fs.writeFileSync(path.join(dir, ".pulumi", "meta.yaml"), "version: 1\n");
      fs.writeFileSync(path.join(stacks, "a.json"), checkpoint("a"));
      fs.writeFileSync(path.join(stacks, "a.json.bak"), checkpoint("old"));
      fs.writeFileSync(path.join(stacks, "a.json.attrs"), "{}");
      fs.writeFileSync(path.join(stacks, "b.json.gz"), zlib.gzipSync(checkpoint("b")));
      fs.writeFileSync(path.join(stacks, "c.json.zst"), zlib.zstdCompressSync(checkpoint("c")));
      fs.mkdirSync(path.join(dir, ".pulumi", "stacks", "other"));
      fs.writeFileSync(path.join(dir, ".pulumi", "stacks", "other", "x.json"), checkpoint("x"));
      const store = stateStore(`file://${dir}`)!;
      expect((await store.stacks()).map((s) => `${s.project}/${s.stack}`).sort()).toEqual(["other/x", "proj/a", "proj/b", "proj/c"]);
      const texts = await store.checkpoints("proj", ["a", "b", "c", "none"]);
      expect([...texts.keys()]).toEqual(["a", "b", "c"]);
      expect([...texts.values()].map((t) => (JSON.parse(t) as { checkpoint: { stack: string } }).checkpoint.stack)).toEqual([
        "a",
        "b",
        "c",
      ]);
      fs.mkdirSync(path.join(dir, ".pulumi", "locks", "organization", "proj", "a"), { recursive: true });
      const lock = { pid: 1, username: "u", hostname: "h", timestamp: "2026-01-01T00:00:00Z" };
      fs.writeFileSync(path.join(dir, ".pulumi", "locks", "organization", "proj", "a", "id.json"), JSON.stringify(lock));
      expect(await store.locks("proj", "a")).toEqual([expect.objectContaining(lock)]);
      expect(await store.locks("proj", "b")).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the older layout (no meta.yaml): stacks directly under .pulumi/stacks", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-backend-"));
    try {
      fs.mkdirSync(path.join(dir, ".pulumi", "stacks"), { recursive: true });
      fs.writeFileSync(path.join(dir, ".pulumi", "stacks", "dev.json"), checkpoint("dev"));
      const store = stateStore(`file://${dir}`)!;
      expect(await store.stacks()).toEqual([{ project: "", stack: "dev" }]);
      expect([...(await store.checkpoints("anything", ["dev"])).keys()]).toEqual(["dev"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("backends not read directly: none (the CLI is asked); s3:// without static credentials too", () => {
    expect(stateStore("gs://bucket/path")).toBeUndefined();
    expect(stateStore(undefined)).toBeUndefined();
    const saved = { ...process.env };
    try {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      delete process.env.AWS_PROFILE;
      process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(os.tmpdir(), `no-such-credentials-${process.pid}`);
      expect(stateStore("s3://bucket/path")).toBeUndefined();
      expect(stateStore("s3://bucket/path?anonymous=true")).toBeDefined();
      process.env.AWS_ACCESS_KEY_ID = "AK";
      process.env.AWS_SECRET_ACCESS_KEY = "SK";
      expect(stateStore("s3://bucket/path")?.url).toBe("s3://bucket/path");
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
