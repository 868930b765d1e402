import type { Rule } from "./check.js";

/** A machine's name: its hostname, DHCP client name and a CLI argument, so a DNS label (`-rf` is none). */
export const MACHINE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
export const machineName: Rule<string> = (name) =>
  MACHINE_NAME.test(name)
    ? undefined
    : "must be 1–32 of a-z, 0-9 and -, starting and ending with a letter or digit (a DNS label)";

/** An image's name: one directory under GAOL_ROOT/masters and GAOL_ROOT/images. */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const imageName: Rule<string> = (name) =>
  IMAGE_NAME.test(name) ? undefined : "must match [a-z0-9][a-z0-9._-]{0,63}";

/** A gaol user's name. */
export const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const userName: Rule<string> = (name) => (USER_NAME.test(name) ? undefined : "is not a user name");

/** A host account a user's machines run as (what useradd accepts by default). */
export const HOST_ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;
export const hostAccount: Rule<string> = (name) => (HOST_ACCOUNT.test(name) ? undefined : "is not a host account name");

/** A machine's id on a host: it names files, taps and umids there. */
export const MACHINE_ID = /^[a-z0-9-]{1,64}$/;
export const machineId: Rule<string> = (id) => (MACHINE_ID.test(id) ? undefined : "must match [a-z0-9-]{1,64}");

/** Only gaol's own programs inside the image may be init. */
export const INIT_PROGRAM = /^\/uml\/bin\/[a-z-]+$/;
export const initProgram: Rule<string> = (init) =>
  INIT_PROGRAM.test(init) ? undefined : "must be a program under /uml/bin";

/** A friendly generated machine name: adjective-noun-4 hex digits. */
export function generateName(random: () => number = Math.random): string {
  const words = ["amber", "brisk", "calm", "deft", "eager", "fleet", "grand", "hale", "keen", "lucid"];
  const nouns = ["otter", "heron", "lynx", "finch", "marten", "wren", "ibex", "tern", "vole", "kite"];
  const pick = (list: string[]) => list[Math.floor(random() * list.length)] as string;
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, "0");
  return `${pick(words)}-${pick(nouns)}-${suffix}`;
}
