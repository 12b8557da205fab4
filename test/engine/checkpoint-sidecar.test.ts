/**
 * A kill mid-write can leave a file backend checkpoint's `.attrs` sidecar empty (gocloud's fileblob
 * writes it in place, apart from the checkpoint it renames into place). The real CLI then cannot
 * load the stack at all, not even to select it, so `fleet recover` and the service's next try
 * could not open it to mend it. Opening a tenant's stack (scripts/lib/stacks/stacks.ts
 * openTenantStack) removes an empty sidecar when the select fails on it; this checks the premise
 * with the real CLI and that the removal gives the stack back whole.
 */
import * as fs from "fs";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { removeEmptyCheckpointSidecars } from "../../scripts/lib/stacks/stacks";

jest.setTimeout(5 * 60_000);

test("an empty checkpoint sidecar stops the CLI loading the stack; removed, the stack opens with its resources", async () => {
  const dir = programDir("sidecar", "test/fixtures/smoke");
  const stack = await localStack(`sidecar-${process.pid}`, dir, { backend: "sidecar" });
  const backendUrl = `file://${path.join(devDir, "backends", "sidecar")}`;
  try {
    await stack.setConfig("who", { value: "penguin" });
    await stack.up();
    const sidecar = path.join(devDir, "backends", "sidecar", ".pulumi", "stacks", "sidecar", `${stack.name}.json.attrs`);
    expect(fs.existsSync(sidecar)).toBe(true);
    expect(removeEmptyCheckpointSidecars(backendUrl, stack.name)).toEqual([]); // a sidecar with content stays
    fs.truncateSync(sidecar, 0);

    await expect(Stack.select(stack.name, stack.workspace)).rejects.toThrow(/failed to load checkpoint/i);
    expect(removeEmptyCheckpointSidecars(backendUrl, stack.name)).toEqual([sidecar]);
    const opened = await Stack.select(stack.name, stack.workspace);
    const types = (await opened.exportStack()).deployment.resources.map((r: { type: string }) => r.type);
    expect(types).toEqual(expect.arrayContaining(["pulumi-nodejs:dynamic/smoke:Greeting", "random:index/randomPassword:RandomPassword"]));
    await opened.destroy();
  } finally {
    await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
  }
});
