import { readFileSync, writeFileSync } from "node:fs";
import type { MachineDriver } from "../host/driver.js";

/**
 * How far each machine's console was reported when the last agent stopped, so the next one
 * re-adopts it without reporting those lines again. One JSON file, written on stop.
 */
export class ConsoleOffsets {
  /** The file as read at the first adopt: a restart re-adopts every machine, one read serves them all. */
  private offsets?: Record<string, number>;

  constructor(private readonly file: string) {}

  saved(id: string): number | undefined {
    if (!this.offsets) {
      try {
        this.offsets = JSON.parse(readFileSync(this.file, "utf8")) as Record<string, number>;
      } catch {
        this.offsets = {};
      }
    }
    return this.offsets[id];
  }

  /** Writes the offset of every machine the driver supervises (the others have none to resume). */
  async save(driver: Pick<MachineDriver, "localIds" | "consoleOffset">): Promise<void> {
    const offsets: Record<string, number> = {};
    for (const id of await driver.localIds()) {
      const offset = driver.consoleOffset(id);
      if (offset !== undefined) offsets[id] = offset;
    }
    writeFileSync(this.file, JSON.stringify(offsets));
    this.offsets = offsets;
  }
}
