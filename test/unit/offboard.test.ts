/** Offboarding's final backup names its snapshot: the id restic's backup prints on its last line. */
import { savedSnapshot } from "../../service/offboard";

describe("the final backup's snapshot id", () => {
  test("is read from restic backup's summary, and from nothing else", () => {
    const out = [
      "repository 3f2a9c10 opened (version 2, compression level auto)",
      "Files:           3 new,     0 changed,     0 unmodified",
      "Added to the repository: 201.342 KiB (196.615 KiB stored)",
      "",
      "processed 3 files, 200.123 KiB in 0:00",
      "snapshot 1a2b3c4d saved",
      "applying Policy: keep 7 daily, 4 weekly, 6 monthly snapshots",
      "backup: done",
    ].join("\n");
    expect(savedSnapshot(out)).toBe("1a2b3c4d");
    expect(savedSnapshot("no snapshot here\nsnapshot 1a2b3c4d was not saved\n")).toBeUndefined();
    expect(savedSnapshot("")).toBeUndefined();
  });
});
