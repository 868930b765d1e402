import type { MachineState } from "./states.js";

/** What a viewer may do with a machine's terminal or desktop: type and click, watch, or nothing. */
export const SCREEN_ACCESS = ["CONTROL", "VIEW", "NONE"] as const;
export type ScreenAccess = (typeof SCREEN_ACCESS)[number];

/** Who logs in through the page's terminal: root, or the owner's own account inside. */
export const TERMINAL_LOGINS = ["ROOT", "OWNER"] as const;
export type TerminalLogin = (typeof TERMINAL_LOGINS)[number];

/**
 * The owner types; their course's staff watch (they help, but their keystrokes would be the
 * student's, in the student's home) unless the owner shares the screen with them; nobody else,
 * admins included, gets a screen at all.
 */
export function screenAccess(
  viewer: { userId: string; staffCourses?: ReadonlySet<string> } | undefined,
  machine: { ownerId: string; courseId?: string | null; screenSharedAt?: Date | null },
): ScreenAccess {
  if (!viewer) return "NONE";
  if (machine.ownerId === viewer.userId) return "CONTROL";
  if (machine.courseId != null && viewer.staffCourses?.has(machine.courseId))
    return machine.screenSharedAt ? "CONTROL" : "VIEW";
  return "NONE";
}

/** Only a READY machine has a verified sshd to bridge to. */
export const hasScreen = (state: MachineState): boolean => state === "READY";

/**
 * The guest-side command of a terminal: none for root (sshd's own login shell), su to the owner's
 * account that startenv made (found by its fixed comment, so no name from input reaches a shell).
 */
export function terminalCommand(login: TerminalLogin): string | undefined {
  return login === "ROOT"
    ? undefined
    : `exec su -l -w LANG "$(awk -F: '$5 == "gaol owner" { print $1; exit }' /etc/passwd)"`;
}

/** Output a session keeps for whoever attaches later (a reload, a second tab, a staff viewer). */
export const TERMINAL_REPLAY_BYTES = 256 * 1024;

/** How long a terminal with nobody attached stays open for a reconnect. */
export const TERMINAL_DETACHED_MS = 15 * 60_000;

/** The guest port (on its loopback only) of the desktop's VNC server (Xvnc :0). */
export const VNC_PORT = 5900;
