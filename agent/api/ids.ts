/** Relay global ids are base64 of `Type:id`; the host names files after the plain id. */
export function localId(globalId: string): string {
  const decoded = Buffer.from(globalId, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon > 0 ? decoded.slice(colon + 1) : globalId;
}

export function machineGlobalId(id: string): string {
  return Buffer.from(`Machine:${id}`).toString("base64");
}
