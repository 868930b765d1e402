import { createHash } from "node:crypto";

function digest(id: string): Buffer {
  return createHash("sha256").update(id).digest();
}

/** A stable, locally administered unicast MAC derived from the machine id. */
export function macFromId(id: string): string {
  const bytes = [0x02, ...digest(id).subarray(0, 5)];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A tap name (≤ 15 characters, the kernel's limit) derived from the machine id. */
export function tapNameFromId(id: string): string {
  return `gt${digest(`tap:${id}`).toString("hex").slice(0, 10)}`;
}
