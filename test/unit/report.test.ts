import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventReporter, type SpooledEvent } from "../../agent/report.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gaol-report-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const line = (text: string) => ({ kind: "ConsoleOutput", payload: { text } }) as const;

describe("the event reporter", () => {
  it("keeps what the api did not take on disk, and a new reporter sends it with the same agentSeqs", async () => {
    const down = new EventReporter(dir, async () => {
      throw new Error("api unreachable");
    });
    for (const text of ["a", "b", "c"]) down.push("m1", line(text));
    await new Promise((r) => setTimeout(r, 50));
    await down.stop();

    const sent: SpooledEvent[] = [];
    const up = new EventReporter(dir, async (events) => {
      sent.push(...events);
    });
    expect(up.backlog).toBe(3);
    await up.drain();
    expect(sent.map((e) => [e.agentSeq, (e.payload as { text: string }).text])).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ]);
    await up.stop();
    expect(await readFile(join(dir, "events.jsonl"), "utf8")).toBe("");
  });

  it("never reuses an agentSeq after a restart, with an empty spool too", async () => {
    const sent: SpooledEvent[] = [];
    const send = async (events: SpooledEvent[]) => {
      sent.push(...events);
    };
    for (let round = 0; round < 3; round++) {
      const reporter = new EventReporter(dir, send);
      for (let i = 0; i < 5; i++) reporter.push("m1", line(`${round}-${i}`));
      await reporter.drain();
      await reporter.stop();
    }
    const seqs = sent.map((e) => e.agentSeq);
    expect(seqs).toHaveLength(15);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
  });
});
