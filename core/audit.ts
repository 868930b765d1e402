import { GaolError } from "./errors.js";

/** What the audit log records: every change to machines, tokens and images, whoever asked. */
export const AUDIT_ACTIONS = [
  "MACHINE_PROVISION",
  "MACHINE_DESTROY",
  "MACHINE_REBOOT",
  "MACHINE_RESET",
  "MACHINE_SSH_KEYS_ADD",
  "TOKEN_CREATE",
  "TOKEN_REVOKE",
  "IMAGE_SYNC",
  "HOST_CORDON",
  "COURSE_CREATE",
  "COURSE_ENROL",
  "COURSE_TOKEN_CREATE",
  "LAB_CREATE",
  "LAB_CHECK_RUN",
  "MACHINE_EXTEND",
  "MACHINE_SCREEN_SHARE",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who acted: the user (kept by name too, for after the user is gone) and the token they used. */
export interface Actor {
  /** Null for gaol itself (a lab's lease ending). */
  userId: string | null;
  userName: string;
  tokenId?: string;
}

/** gaol acting on its own: a lease that ends destroys its machine. */
export const GAOL_ACTOR: Actor = { userId: null, userName: "gaol" };

/** What an action was done to. */
export interface AuditTarget {
  id?: string | null;
  name?: string | null;
}

/** An audit entry's result: `ok`, or the typed error's name (as its GraphQL __typename). */
export const AUDIT_OK = "ok";

/** The result recorded for an action that threw: the typed error's name, or InternalError for a bug. */
export function auditResult(error: unknown): string {
  return error instanceof GaolError ? error.constructor.name : "InternalError";
}
