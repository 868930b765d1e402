/** "12 s ago", "5 min ago", "3 h ago": how long since an ISO instant, for people. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** A machine's state as people read it: "READY (unresponsive)" once the host's probes stopped getting an answer. */
export function stateLabel(machine: { state: string; health?: { status: string } | null }): string {
  return machine.health?.status === "UNRESPONSIVE" ? `${machine.state} (unresponsive)` : machine.state;
}
