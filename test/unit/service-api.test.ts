/**
 * The service's API checks without a database (a stand-in pool that knows one token): every
 * error is problem+json with a stable code, query parameters and bodies are checked field by
 * field, bodies are limited and must be JSON, `Bearer` in any case; and what a caller writes
 * reaches a commit message only as one line, so it cannot forge the `Request:` trailer.
 */
import { Pool } from "pg";
import { serviceApi } from "../../service/api";
import { commitMessage } from "../../service/apply";
import { Problem, oneLine, withoutServerPaths } from "../../service/problems";
import { submission, unusedQuery, usageBatch } from "../../service/schemas";

const TOKEN = "pmt_test";
/** A pool that knows one token (tenants acme) and fails the test on any other query. */
const pool = {
  query: async (sql: string) => {
    if (/from api_tokens/.test(sql)) return { rows: [{ id: "1", caller: "t", tenants: ["acme"], rate_per_minute: 5 }], rowCount: 1 };
    throw new Error(`unexpected query: ${sql}`);
  },
} as unknown as Pool;

const call = async (method: string, path: string, o: { body?: string; headers?: Record<string, string>; token?: string | null } = {}) => {
  const app = serviceApi(pool, { maxBodyBytes: 1000, ratePerMinute: 1000 });
  const res = await app.request(path, {
    method,
    headers: {
      ...(o.token === null ? {} : { authorization: `Bearer ${o.token ?? TOKEN}` }),
      ...(o.body !== undefined ? { "content-type": "application/json" } : {}),
      ...o.headers,
    },
    body: o.body,
  });
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    allow: res.headers.get("allow"),
    body: (await res.json()) as Problem,
  };
};

describe("the API's errors are RFC 9457 problem details with a stable code", () => {
  test("unknown route → 404, known route with another method → 405 with Allow", async () => {
    const nf = await call("GET", "/nope");
    expect(nf).toMatchObject({ status: 404, type: "application/problem+json", body: { status: 404, code: "not_found" } });
    expect(nf.body.type).toBe("urn:penguinmails:problem:not_found");
    const na = await call("PATCH", "/tenants/acme/requests", { body: "{}" });
    expect(na).toMatchObject({ status: 405, body: { code: "method_not_allowed" } });
    expect(na.allow).toBe("POST, GET");
  });

  test("no token → 401; `bearer` in any case is accepted (RFC 7235)", async () => {
    expect(await call("GET", "/unused?days=abc", { token: null })).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    for (const scheme of ["bearer", "BEARER", "BeArEr"]) {
      const r = await call("GET", "/unused?days=abc", { token: null, headers: { authorization: `${scheme} ${TOKEN}` } });
      expect(r.body.code).toBe("invalid_query");
    }
  });

  test("a body that is not JSON → 415 by content type, 400 by content; over the limit → 413 before it is read", async () => {
    const t415 = await call("POST", "/tenants/acme/requests", { body: "{}", headers: { "content-type": "text/plain" } });
    expect(t415).toMatchObject({ status: 415, body: { code: "unsupported_media_type" } });
    expect(await call("POST", "/tenants/acme/requests", { body: "{nope" })).toMatchObject({ status: 400, body: { code: "invalid_json" } });
    const big = await call("POST", "/tenants/acme/requests", { body: JSON.stringify({ kind: "acquire_ips", pad: "x".repeat(2000) }) });
    expect(big).toMatchObject({ status: 413, body: { code: "body_too_large" } });
  });
});

test("each token has a rate limit: over it → 429 with Retry-After", async () => {
  const app = serviceApi(pool, { ratePerMinute: 1000 });
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 7; i++) {
    const res = await app.request("/unused?days=abc", { headers: { authorization: `Bearer ${TOKEN}` } });
    statuses.push(res.status);
    if (res.status === 429) retryAfter = res.headers.get("retry-after");
  }
  // the token allows 5 a minute
  expect(statuses).toEqual([400, 400, 400, 400, 400, 429, 429]);
  expect(Number(retryAfter)).toBeGreaterThan(0);
});

describe("every query parameter is checked (issue 23: `days=-1` listed every IP as unused)", () => {
  test.each([
    ["days=-1", "query.days"],
    ["days=0", "query.days"],
    ["days=1.5", "query.days"],
    ["days=1e10", "query.days"],
    ["days=abc", "query.days"],
    ["days=", "query.days"],
    ["days=91", "query.days"],
    ["belowDailyAverage=-3", "query.belowDailyAverage"],
    ["limit=0", "query.limit"],
    ["cursor=garbage", "query.cursor"],
    ["color=red", "query"],
  ])("GET /unused?%s → 400 naming %s", async (qs, field) => {
    const r = await call("GET", `/unused?${qs}`);
    expect(r).toMatchObject({ status: 400, body: { code: "invalid_query" } });
    expect(r.body.errors!.map((e) => e.field)).toContain(field);
  });
  test.each(["months=1.5", "months=0", "months=1e3", "months=x"])("GET /reports/cost?%s → 400 naming query.months", async (qs) => {
    const r = await call("GET", `/reports/cost?${qs}`);
    expect(r.status).toBe(400);
    expect(r.body.errors![0].field).toBe("query.months");
  });
  test("the schema keeps what is valid", () => {
    expect(unusedQuery.parse({ days: "30", belowDailyAverage: "0.5" })).toMatchObject({ days: 30, belowDailyAverage: 0.5, limit: 100 });
  });
});

describe("usage batches", () => {
  const rec = (day: string, ip = "198.51.0.1") => ({ tenant: "acme", ip, day, sent: 1 });
  test("a future day, a day that does not exist and a repeated record are refused by index", () => {
    const tomorrow = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    const r = usageBatch.safeParse({ records: [rec("2026-01-01"), rec(tomorrow), rec("2026-02-30"), rec("2026-01-01")] });
    expect(r.success).toBe(false);
    const paths = r.success ? [] : r.error.issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["records.1.day", "records.2.day", "records.3"]));
  });
});

describe("what a caller writes cannot forge a request's completion", () => {
  const victim = "11111111-2222-3333-4444-555555555555";
  const own = "99999999-8888-7777-6666-555555555555";
  test.each([
    ["LF", `x\n\nRequest: ${victim}`],
    ["CR", `x\r\rRequest: ${victim}`],
    ["CRLF", `x\r\n\r\nRequest: ${victim}`],
    ["U+2028", `x\u2028\u2028Request: ${victim}`],
    ["U+2029", `x\u2029Request: ${victim}`],
    ["U+0085", `x\u0085Request: ${victim}`],
    ["VT/FF", `x\u000b\u000cRequest: ${victim}`],
  ])("requester with %s: refused by the API, one line in the commit message", (_, requester) => {
    const body = submission.safeParse({ kind: "acquire_ips", params: { server: "mx1", count: 1 }, requester });
    expect(body.success).toBe(false);
    expect(body.success ? [] : body.error.issues.map((i) => i.path.join("."))).toEqual(["requester"]);
    expect(submission.safeParse({ kind: "acquire_ips", params: { server: "mx1", count: 1 }, requester: "ana@platform" }).success).toBe(
      true,
    );
    const msg = commitMessage({ id: own, tenant: "globex", kind: "acquire_ips", params: { server: "mx1", count: 1 }, requester });
    // Every line break git or a reader could see: only our own trailer starts a line.
    // eslint-disable-next-line no-control-regex
    const lines = msg.split(/\r\n|[\n\r\u2028\u2029\u0085\u000b\u000c]/);
    expect(lines.filter((l) => /^Request:/.test(l))).toEqual([`Request: ${own}`]);
  });
  test("oneLine keeps ordinary text", () => {
    expect(oneLine("Ana Müller (ops) <ana@example.test>")).toBe("Ana Müller (ops) <ana@example.test>");
  });
});

test("failureReason keeps no server paths", () => {
  expect(withoutServerPaths("git push in /srv/pm/.pulumi-dev/service/clones/slot-0: refused")).toBe("git push in <path>: refused");
  expect(withoutServerPaths("error in /home/x/dist/stacks/index.js: boom")).toBe("error in index.js: boom");
  expect(withoutServerPaths("the config costs $29.94/month")).toBe("the config costs $29.94/month");
});
