// gaol-jail: starts one UML kernel in a mount namespace of its own whose root
// holds only what the kernel needs, as its owner, with no way back to root.
// Started by the agent as root; every path and value comes as an argument
// (never through a shell). Modelled on Firecracker's jailer.
//
//   gaol-jail [--bind PATH]... [--bind-at PATH INSIDE]... [--ro-bind PATH]... [--dev PATH]...
//             [--tmpfs PATH MIB]... [--cgroup PROCS_FILE]... [--env K=V]...
//             [--rlimit NAME=N]... [--netns FILE] --uid N --gid N --user NAME
//             --root DIR [--chdir DIR] -- KERNEL [ARG]...
//
// Each bound path appears at the same path inside, unless --bind-at names another. Exit codes: 125 for a bad
// argument, 126 when a jail step fails (the message names it on stderr).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ITEMS 64

enum kind { BIND, RO_BIND, DEV, TMPFS };
struct mount_item {
  enum kind kind;
  const char *path;
  long mib;
  // Where it appears inside (the same path unless --bind-at says otherwise).
  const char *at;
};

static struct mount_item mounts[MAX_ITEMS];
static int n_mounts;
static const char *cgroups[MAX_ITEMS];
static int n_cgroups;
static char *envs[MAX_ITEMS + 1];
static int n_envs;
static struct {
  int resource;
  rlim_t value;
} rlimits[MAX_ITEMS];
static int n_rlimits;

static void die(const char *step, const char *what) {
  fprintf(stderr, "gaol-jail: %s %s: %s\n", step, what ? what : "", strerror(errno));
  exit(126);
}

static void usage(const char *why) {
  fprintf(stderr, "gaol-jail: %s\n", why);
  exit(125);
}

static long number(const char *text) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || *end || value < 0) usage("not a number");
  return value;
}

static int rlimit_named(const char *name) {
  if (!strcmp(name, "nofile")) return RLIMIT_NOFILE;
  if (!strcmp(name, "core")) return RLIMIT_CORE;
  if (!strcmp(name, "fsize")) return RLIMIT_FSIZE;
  if (!strcmp(name, "memlock")) return RLIMIT_MEMLOCK;
  if (!strcmp(name, "nproc")) return RLIMIT_NPROC;
  usage("unknown rlimit");
  return -1;
}

// mkdir -p of path's parents under root (and path itself when dir), mode 0755, root-owned.
static void make_path(const char *root, const char *path, int leaf_is_dir) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s%s", root, path) >= (int)sizeof buf) usage("path too long");
  for (char *p = buf + strlen(root) + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) && errno != EEXIST) die("mkdir", buf);
    *p = '/';
  }
  if (leaf_is_dir) {
    if (mkdir(buf, 0755) && errno != EEXIST) die("mkdir", buf);
  } else {
    int fd = open(buf, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) die("create", buf);
    close(fd);
  }
}

static void mount_one(const char *root, const struct mount_item *m, long uid, long gid) {
  char target[PATH_MAX];
  snprintf(target, sizeof target, "%s%s", root, m->at);
  if (m->kind == TMPFS) {
    make_path(root, m->at, 1);
    char options[128];
    snprintf(options, sizeof options, "size=%ldm,mode=0700,uid=%ld,gid=%ld", m->mib, uid, gid);
    if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)) die("tmpfs", m->path);
    return;
  }
  struct stat st;
  if (stat(m->path, &st)) die("stat", m->path);
  make_path(root, m->at, S_ISDIR(st.st_mode));
  if (mount(m->path, target, NULL, MS_BIND | MS_REC, NULL)) die("bind", m->path);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID;
  if (m->kind != DEV) flags |= MS_NODEV;
  if (m->kind == RO_BIND) flags |= MS_RDONLY;
  if (mount(NULL, target, NULL, flags, NULL)) die("remount", m->path);
}

int main(int argc, char **argv) {
  long uid = -1, gid = -1;
  const char *user = NULL, *root = NULL, *chdir_to = "/", *netns = NULL;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--"); i++) {
    const char *opt = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!val) usage("missing value");
    if (n_mounts >= MAX_ITEMS || n_cgroups >= MAX_ITEMS || n_envs >= MAX_ITEMS || n_rlimits >= MAX_ITEMS)
      usage("too many options");
    i++;
    if (!strcmp(opt, "--bind")) mounts[n_mounts++] = (struct mount_item){BIND, val, 0, val};
    else if (!strcmp(opt, "--bind-at")) {
      if (i + 1 >= argc) usage("--bind-at PATH INSIDE");
      mounts[n_mounts++] = (struct mount_item){BIND, val, 0, argv[++i]};
    } else if (!strcmp(opt, "--ro-bind")) mounts[n_mounts++] = (struct mount_item){RO_BIND, val, 0, val};
    else if (!strcmp(opt, "--dev")) mounts[n_mounts++] = (struct mount_item){DEV, val, 0, val};
    else if (!strcmp(opt, "--tmpfs")) {
      if (i + 1 >= argc) usage("--tmpfs PATH MIB");
      mounts[n_mounts++] = (struct mount_item){TMPFS, val, number(argv[++i]), val};
    } else if (!strcmp(opt, "--cgroup")) cgroups[n_cgroups++] = val;
    else if (!strcmp(opt, "--env")) envs[n_envs++] = (char *)val;
    else if (!strcmp(opt, "--rlimit")) {
      const char *eq = strchr(val, '=');
      if (!eq) usage("--rlimit NAME=N");
      char name[32];
      snprintf(name, sizeof name, "%.*s", (int)(eq - val), val);
      rlimits[n_rlimits].resource = rlimit_named(name);
      rlimits[n_rlimits++].value = (rlim_t)number(eq + 1);
    } else if (!strcmp(opt, "--uid")) uid = number(val);
    else if (!strcmp(opt, "--gid")) gid = number(val);
    else if (!strcmp(opt, "--user")) user = val;
    else if (!strcmp(opt, "--root")) root = val;
    else if (!strcmp(opt, "--chdir")) chdir_to = val;
    else if (!strcmp(opt, "--netns")) netns = val;
    else usage("unknown option");
  }
  if (i + 1 >= argc) usage("no kernel after --");
  // The kernel never runs as root: that is the whole point.
  if (uid <= 0 || gid <= 0 || !user || !root) usage("--uid, --gid (not 0), --user and --root are required");
  for (int m = 0; m < n_mounts; m++)
    for (int side = 0; side < 2; side++) {
      const char *path = side ? mounts[m].at : mounts[m].path;
      if (path[0] != '/' || strstr(path, "/..") || strstr(path, "/./") || !strcmp(path, "/"))
        usage("paths must be absolute and normal");
    }

  // Into the machine's cgroups first, so that everything it forks is counted.
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", getpid());
  for (int c = 0; c < n_cgroups; c++) {
    int fd = open(cgroups[c], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, strlen(pid)) < 0) die("cgroup", cgroups[c]);
    close(fd);
  }
  // The LAN's namespace by its file (what `ip netns exec` does, without its remount of /sys).
  if (netns) {
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET)) die("setns", netns);
    close(fd);
  }
  // Supplementary groups from the host's account database, before it is out of sight.
  if (initgroups(user, (gid_t)gid)) die("initgroups", user);

  if (unshare(CLONE_NEWNS)) die("unshare", "mount namespace");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make private", "/");
  if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")) die("tmpfs", root);
  for (int m = 0; m < n_mounts; m++) mount_one(root, &mounts[m], uid, gid);
  // The root itself read-only: guest root's hostfs can make nothing new outside the binds.
  if (mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)) die("remount", root);
  if (chdir(root)) die("chdir", root);
  if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root", root);
  if (umount2(".", MNT_DETACH)) die("detach", "old root");
  if (chdir(chdir_to)) die("chdir", chdir_to);

  if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid)) die("setresgid", NULL);
  if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid)) die("setresuid", NULL);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs", NULL);
  for (int r = 0; r < n_rlimits; r++) {
    struct rlimit lim = {rlimits[r].value, rlimits[r].value};
    if (setrlimit(rlimits[r].resource, &lim)) die("setrlimit", NULL);
  }
  // UML turns address randomization off and, since 6.x, re-execs itself through /proc/self/exe,
  // which the jail has no /proc for: off already, it runs on without the second exec.
  if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0) die("personality", NULL);
  // Only stdin, stdout and stderr reach the kernel.
  if (syscall(SYS_close_range, 3U, ~0U, 0U)) die("close_range", NULL);
  envs[n_envs] = NULL;
  execve(argv[i + 1], &argv[i + 1], envs);
  die("exec", argv[i + 1]);
}
