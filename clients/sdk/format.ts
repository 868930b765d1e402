/** "40 s", "5 min", "3 h", "6 d": a span of time, for people. */
export function span(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

/** "10 min" for whole minutes, "45 s" otherwise: a lab's limits, said exactly. */
export const minutes = (seconds: number): string => (seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`);

/** "12 s ago", "5 min ago", "3 h ago", "6 d ago": how long since an ISO instant, for people. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  return `${span(Math.max(0, Math.round((now - Date.parse(iso)) / 1000)))} ago`;
}

/** "in 7 d" for an instant to come, "2 h ago" for one gone by. */
export function fromNow(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  return seconds > 0 ? `in ${span(seconds)}` : ago(iso, now);
}

/** A machine's state as people read it: "READY (unresponsive)" once the host's probes stopped getting an answer. */
export function stateLabel(machine: { state: string; health?: { status: string } | null }): string {
  return machine.health?.status === "UNRESPONSIVE" ? `${machine.state} (unresponsive)` : machine.state;
}
