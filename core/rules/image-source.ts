import { posix } from "node:path";
import { ValidationError } from "../errors.js";
import { FieldErrors } from "./check.js";
import { imageName } from "./names.js";

export type ImageSource =
  | { kind: "local"; path: string }
  | { kind: "daemon"; url: string }
  | { kind: "ssh"; host: string; path: string };

const SSH_SOURCE = /^((?:[a-z_][a-z0-9_.-]*@)?[a-z0-9][a-z0-9.-]*):(\/?[^:]*)$/i;

function hasParentSegment(path: string): boolean {
  return path.split("/").includes("..");
}

/**
 * What rsync may read an image from: an absolute local directory, `rsync://host/module/path`
 * or `[user@]host:path` (over ssh). Nothing option-like, no `..`, no control characters:
 * the source is one argv element after `--`, but it must also never name more than it says.
 */
export function parseImageSource(source: string): ImageSource {
  const problem = (message: string): never => {
    throw new ValidationError([{ field: "source", message }]);
  };
  if (!source) problem("is required");
  if (source.startsWith("-")) problem("must not look like an option");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  if (/[\u0000-\u001f\u007f]/.test(source)) problem("must not contain control characters");
  // Checked on the raw text: URL parsing would quietly resolve the dots away.
  if (hasParentSegment(source.replace(/^rsync:\/\//, "").replace(/^[^/:]*:/, "/"))) problem("must not contain ..");
  if (source.startsWith("rsync://")) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      return problem("is not an rsync:// URL");
    }
    if (url.pathname.length < 2) problem("must name an rsync module");
    return { kind: "daemon", url: url.toString() };
  }
  if (source.startsWith("/")) {
    if (hasParentSegment(source)) problem("must not contain ..");
    if (posix.normalize(source) !== source && `${posix.normalize(source)}/` !== source)
      problem("must be a normalized absolute path");
    return { kind: "local", path: source };
  }
  const ssh = SSH_SOURCE.exec(source);
  if (!ssh) return problem("must be an absolute directory, rsync://host/module/path or host:path");
  const [, host, path] = ssh as unknown as [string, string, string];
  if (hasParentSegment(path)) problem("must not contain ..");
  if (path.startsWith("-")) problem("must not look like an option");
  return { kind: "ssh", host, path };
}

/** An image name that stays one directory under GAOL_ROOT/masters and /images. */
export function checkImageName(name: string): void {
  new FieldErrors().check("name", name, imageName).throwIfAny();
}
