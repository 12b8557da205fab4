import { encodeForm, parseBody } from "../../providers/hostwinds/wire";
import { backoffMs, retryAfterMs } from "../../providers/lib/retry";
import { scrub } from "../../providers/lib/secrets";

describe("Hostwinds wire format", () => {
  test("encodes arrays PHP-style and skips undefined", () => {
    expect(encodeForm({ action: "add_instance", keys: ["a", "b c"], qty: 1, srvrname: undefined })).toBe(
      "action=add_instance&keys%5B%5D=a&keys%5B%5D=b+c&qty=1",
    );
  });

  test("reads both success shapes", () => {
    expect(parseBody('{"success":[{"serviceid":1}]}')).toEqual({ kind: "data", data: [{ serviceid: 1 }] });
    expect(parseBody('[{"result":"success","action":"Set rDNS","message":"rDNS record updated."}]')).toEqual({
      kind: "results",
      items: [{ result: "success", action: "Set rDNS", message: "rDNS record updated." }],
    });
  });

  test("reads error arrays and bare error objects", () => {
    expect(parseBody('[{"result":"error","message":"Invalid Action.","ERROR":"6734"}]')).toEqual({
      kind: "error",
      message: "Invalid Action.",
      code: "6734",
    });
    expect(parseBody('{"result":"error","action":"Authorization","message":"Not Authorized!"}')).toEqual({
      kind: "error",
      message: "Not Authorized!",
      code: undefined,
    });
  });

  test("an error in a multi-item answer wins over the success items", () => {
    const p = parseBody(
      '[{"result":"success","action":"Invoice Paid"},{"result":"error","message":"Location Id is invalid.","ERROR":342432}]',
    );
    expect(p).toEqual({ kind: "error", message: "Location Id is invalid.", code: "342432" });
  });

  test("a non-JSON body is an error that does not echo the body", () => {
    const p = parseBody("<html>password=hunter2</html>");
    expect(p.kind).toBe("error");
    expect(JSON.stringify(p)).not.toContain("hunter2");
  });

  test("Retry-After in seconds and as a date", () => {
    expect(retryAfterMs("3")).toBe(3000);
    const inTwo = new Date(Date.now() + 2000).toUTCString();
    expect(retryAfterMs(inTwo)).toBeGreaterThan(500);
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  test("full-jitter backoff stays within [0, min(cap, base*2^n)]", () => {
    expect(backoffMs(3, 100, 10_000, () => 0.999)).toBe(799);
    expect(backoffMs(10, 100, 2000, () => 0.5)).toBe(1000);
    expect(backoffMs(0, 100, 2000, () => 0)).toBe(0);
  });

  test("the one scrubber removes every occurrence of a secret", () => {
    expect(scrub("key abcd1234 and abcd1234", ["abcd1234"])).toBe("key [secret] and [secret]");
  });
});
