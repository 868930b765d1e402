import { readFileSync, writeFileSync } from "node:fs";
import type { MachineDriver } from "../host/driver.js";

/**
 * How far each machine's console was reported when the last agent stopped, so the next one
 * re-adopts it without reporting those lines again. One JSON file, written on stop.
 */
export class ConsoleOffsets {
  constructor(private readonly file: string) {}

  saved(id: string): number | undefined {
    try {
      return (JSON.parse(readFileSync(this.file, "utf8")) as Record<string, number>)[id];
    } catch {
      return undefined;
    }
  }

  /** Writes the offset of every machine the driver supervises (the others have none to resume). */
  async save(driver: Pick<MachineDriver, "localIds" | "consoleOffset">): Promise<void> {
    const offsets: Record<string, number> = {};
    for (const id of await driver.localIds()) {
      const offset = driver.consoleOffset(id);
      if (offset !== undefined) offsets[id] = offset;
    }
    writeFileSync(this.file, JSON.stringify(offsets));
  }
}
