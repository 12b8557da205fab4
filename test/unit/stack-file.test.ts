/** Stack-file edits (the service's commits) keep a person's comments, key order and layout. */
import { parseStackFile, setStackConfig, stackConfig, stackFileText } from "../../scripts/lib/stacks/stack-file";

const commented = `# Tenant acme: a small sender on the starter tier.
#   pulumi config set --secret hostwinds:apiKey <key> --stack acme
config:
  hostwinds:apiKey:
    secure: v1:abc # set with --secret
  penguinmails-infra:tenant:
    id: acme
    tier: starter # moved up in March
    monthlyBudgetUsd: 25
    zone: acme-mail.com
    domains:
      - name: acme-mail.com
        dmarcPolicy: none
    servers:
      # the first server; do not rename
      - name: mx1
        sendingIps: 2 # warm since May
        location: 1
        plan: 101
        pausedIps: [198.51.100.7]
    warmup: conservative
encryptionsalt: v1:JKaJFxfiH+U=
`;

describe("stack file edits", () => {
  test("changing the tenant keeps every comment, the key order and the other keys", () => {
    const doc = parseStackFile(commented);
    const before = stackConfig(doc)["penguinmails-infra:tenant"] as {
      servers: Array<Record<string, unknown>>;
      warmup?: string;
    };
    const after = {
      ...before,
      monthlyBudgetUsd: 40,
      servers: [
        { ...before.servers[0], sendingIps: 3, pausedIps: [] },
        { name: "mx2", location: 1, plan: 101, sendingIps: 1 },
      ],
    };
    delete after.warmup;
    setStackConfig(doc, "penguinmails-infra:tenant", after);
    expect(stackFileText(doc)).toBe(`# Tenant acme: a small sender on the starter tier.
#   pulumi config set --secret hostwinds:apiKey <key> --stack acme
config:
  hostwinds:apiKey:
    secure: v1:abc # set with --secret
  penguinmails-infra:tenant:
    id: acme
    tier: starter # moved up in March
    monthlyBudgetUsd: 40
    zone: acme-mail.com
    domains:
      - name: acme-mail.com
        dmarcPolicy: none
    servers:
      # the first server; do not rename
      - name: mx1
        sendingIps: 3 # warm since May
        location: 1
        plan: 101
        pausedIps: []
      - name: mx2
        location: 1
        plan: 101
        sendingIps: 1
encryptionsalt: v1:JKaJFxfiH+U=
`);
    expect(stackConfig(parseStackFile(doc.toString()))["penguinmails-infra:tenant"]).toEqual(after);
  });

  test("an unchanged tenant writes the file back byte for byte; a new key is added at the end", () => {
    const doc = parseStackFile(commented);
    setStackConfig(doc, "penguinmails-infra:tenant", stackConfig(doc)["penguinmails-infra:tenant"]);
    expect(stackFileText(doc)).toBe(commented);
    setStackConfig(doc, "penguinmails-infra:installMailu", false);
    expect(stackFileText(doc)).toBe(commented.replace("encryptionsalt:", "  penguinmails-infra:installMailu: false\nencryptionsalt:"));
  });

  test("a file that is not YAML is refused with its name", () => {
    expect(() => parseStackFile("config: [", "stacks/Pulumi.acme.yaml")).toThrow(/^stacks\/Pulumi\.acme\.yaml: /);
  });
});
