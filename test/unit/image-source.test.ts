import { describe, expect, it } from "vitest";
import { ValidationError } from "../../core/errors.js";
import { checkImageName, parseImageSource } from "../../core/rules/image-source.js";
import { parseRsyncProgress, rsyncSourceArg } from "../../host/image/sync.js";

describe("image sources", () => {
  it("accepts a local directory, an rsync daemon URL and host:path", () => {
    expect(parseImageSource("/srv/arch")).toEqual({ kind: "local", path: "/srv/arch" });
    expect(rsyncSourceArg(parseImageSource("/srv/arch"))).toBe("/srv/arch/");
    expect(parseImageSource("rsync://mirror.lan/arch/root").kind).toBe("daemon");
    expect(parseImageSource("admin@master.lan:/srv/archlinux")).toEqual({
      kind: "ssh",
      host: "admin@master.lan",
      path: "/srv/archlinux",
    });
  });

  it.each([
    ["", /required/],
    ["-e", /option/],
    ["--rsh=sh", /option/],
    ["/srv/../etc", /\.\./],
    ["/srv/arch/..", /\.\./],
    ["rsync://mirror/arch/../../etc", /\.\./],
    ["host:../etc", /\.\./],
    ["host:-e", /option/],
    ["relative/dir", /absolute/],
    ["/srv//arch", /normalized/],
    ["/srv/arch\n-e", /control/],
  ])("refuses %j with a ValidationError on source", (source, message) => {
    try {
      parseImageSource(source);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields[0]).toMatchObject({
        field: "source",
        message: expect.stringMatching(message),
      });
    }
  });

  it("refuses image names that could leave GAOL_ROOT/masters", () => {
    for (const name of ["..", "../etc", "-e", "a/b", "Arch", ""])
      expect(() => checkImageName(name)).toThrow(ValidationError);
    expect(() => checkImageName("archlinux")).not.toThrow();
  });

  it("reads bytes, percent and files from rsync's progress2 output", () => {
    const out =
      "      1,048,576  12%  1.00MB/s    0:00:01 (xfr#3, to-chk=40/50)\r     8,388,608  97%   4.00MB/s    0:00:02 (xfr#47, to-chk=1/50)\r";
    expect(parseRsyncProgress(out)).toEqual({ phase: "transfer", bytes: 8_388_608, percent: 97, files: 47 });
    expect(parseRsyncProgress("sending incremental file list\n")).toBeUndefined();
  });
});
