/** A machine's root disk: what UML's ubd0= takes, and the files to remove on teardown. */
export interface RootDisk {
  ubd: string;
  files: string[];
  kind: "reflink" | "ubd-cow";
}

export interface DiskRequest {
  image: string;
  /** Where the machine's own disk goes, without extension. */
  base: string;
  uid: number;
  gid: number;
}
