import { parseArgs } from "node:util";

// Loaded for the command that needs them: `gaol help` starts without execa, ws or the SDK.
const machines = () => import("./machines.js");
const admin = () => import("./admin.js");
const courses = () => import("./courses.js");
const endpoint = async () => (await import("../sdk/node.js")).endpointFromEnv();

const log = (line: string) => console.error(`gaol: ${line}`);

const USAGE = `usage:
  gaol up [NAME] [--image I] [--memory MiB] [--processes N] [--cpu-percent P] [--json]
                                      a machine; shows its stages, exits when READY
  gaol ls [--json]                    your machines
  gaol ssh NAME [CMD...]              ssh in as root, the machine's host key pinned
  gaol ssh -X NAME [CMD...]           the same, with X11 forwarding: X programs inside show on your display
  gaol term NAME [--owner]            the URL of its terminal in the web page (--owner: as your own account)
  gaol logs NAME [-f] [--json]        the boot log; -f follows it
  gaol reboot NAME [--json]           a new boot on the same disk (for one that is unresponsive); exits when READY
  gaol reset NAME [--json]            back to its image's disk (a lab's starter): what you installed is gone,
                                      your home directory stays; exits when READY
  gaol rm NAME                        destroy a machine (your home directory is kept)
  gaol key add NAME [FILE]            let a public key in (yours from ~/.ssh by default), no reboot
  gaol ssh-config [NAME] [--json] [--write]
                                      OpenSSH Host blocks (VS Code, JetBrains Gateway, scp, rsync);
                                      --write keeps them in ~/.ssh/gaol_config, included from ~/.ssh/config
  gaol images [--json]                images, their versions, sizes, sources and users
  gaol token ls [--json]              your tokens: prefix, expiry, last use (never secrets)
  gaol token revoke ID                the token stops working at once

in a course:
  gaol course ls [--json]             your courses, your part in each, their labs
  gaol lab ls [COURSE] [--json]       the labs you can start, with their time limits
  gaol up --lab COURSE/LAB [NAME]     your machine for a lab; it ends when the lab's time is up
  gaol extend NAME [--by 15m]         more time for a lab machine, within what the lab allows

for instructors — course enrol, course token, course machines, lab create: gaol help course
for admins and hosts — serve, agent, setup, try, hosts, image sync, token create, audit: gaol help admin`;

const ADMIN_USAGE = `usage, for admins and hosts:
  gaol serve [--port 4000] [--no-agent]   the api (GraphQL, GraphiQL) and this host's agent
  gaol agent --api URL --token T      an agent for this host, talking to an api elsewhere
  gaol setup [--systemd] [--desktop]  install and prepare everything this host needs;
                                      --systemd: gaol.service and gaol-agent.service, to start at boot;
                                      --desktop: the desktop image (XFCE, a browser), for the page's Desktop
  gaol try [--owner USER] [--name N]  boot a machine on a private LAN; Ctrl-C destroys it
  gaol hosts [--json]                 hosts, capacity, heartbeats and whether machines are placed there
  gaol hosts cordon|uncordon|drain NAME [--wait 1h]
                                      stop placing machines on a host (or start again); drain waits until it has none
  gaol image sync NAME --from SOURCE [--every SECONDS]
                                      rsync an image's master and build a new version
  gaol token create --user NAME [--role ADMIN|USER|AGENT] [--host-user ACCOUNT] [--expires 7d]
                                      a new token, printed once (uses GAOL_TOKEN, or the server's admin token)
  gaol token ls [--user NAME] [--json]
                                      everyone's tokens
  gaol audit [--user NAME] [--action A] [--first N] [--after CURSOR] [--json]
                                      who changed what, when, and how it went
  gaol ls [--json]                    everyone's machines`;

const COURSE_USAGE = `usage, for a course's instructors (and its TAs: course machines):
  gaol course enrol COURSE USER[:HOST_ACCOUNT]... [--role STUDENT|TA|INSTRUCTOR]
                                      add members, making missing users with their host account
  gaol course token COURSE USER... [--expires 7d]
                                      tokens for members the course enrolled, printed once (USER<TAB>TOKEN for several)
  gaol course machines COURSE [--json]
                                      everyone's lab machines: state, address, when each ends
  gaol course reset COURSE STUDENT [MACHINE]
                                      a student's lab machine back to the lab's starter disk, home kept
  gaol lab create COURSE/LAB --time 2h [--extend 30m] [--warn 10m,2m] [--image I] [--memory MiB] [--per-student N]
      [--opens 14:00 [--prestart 2m]] a lab: its starter image and each machine's time limit; with --opens,
                                      students' machines are booted before it opens and their time runs from it;
                                      --check FILE: a script run as root in each machine by gaol lab check;
                                      --idle 30m: machines the host sees no use of for that long are ended
  gaol lab check COURSE/LAB [--wait 2m] [--json]
                                      run the lab's check in every student's machine: a table of results
  gaol course create NAME [--title T] [--instructor USER]... [--max-machines N] [--max-memory MiB]
      [--student-max-machines N] [--host-account-prefix s-]
                                      ADMIN: a course, its instructors, its budgets, and the host
                                      accounts (s-…) its instructors may give to the users they enrol`;

function jsonFlag(args: string[]) {
  return parseArgs({ args, options: { json: { type: "boolean", default: false } } }).values;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "token": {
      const [sub, ...flags] = rest;
      const { values, positionals } = parseArgs({
        args: flags,
        allowPositionals: true,
        options: {
          user: { type: "string" },
          role: { type: "string" },
          "host-user": { type: "string" },
          expires: { type: "string" },
          json: { type: "boolean", default: false },
        },
      });
      if (sub === "create") await (await admin()).createTokenCommand(values);
      else if (sub === "ls" || sub === "list") await (await admin()).tokensCommand(values);
      else if (sub === "revoke") await (await admin()).revokeTokenCommand(positionals[0]);
      else throw new Error("usage: gaol token create --user NAME | gaol token ls | gaol token revoke ID");
      return 0;
    }
    case "audit": {
      const { values } = parseArgs({
        args: rest,
        options: {
          user: { type: "string" },
          action: { type: "string" },
          first: { type: "string" },
          after: { type: "string" },
          json: { type: "boolean", default: false },
        },
      });
      await (await admin()).auditCommand(values);
      return 0;
    }
    case "up": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          image: { type: "string" },
          memory: { type: "string" },
          processes: { type: "string" },
          "cpu-percent": { type: "string" },
          lab: { type: "string" },
          json: { type: "boolean", default: false },
        },
      });
      const { "cpu-percent": cpuPercent, ...others } = values;
      return (await machines()).up(await endpoint(), { name: positionals[0], cpuPercent, ...others });
    }
    case "course": {
      const [sub, ...flags] = rest;
      const { values, positionals } = parseArgs({
        args: flags,
        allowPositionals: true,
        options: {
          title: { type: "string" },
          instructor: { type: "string", multiple: true },
          "max-machines": { type: "string" },
          "max-memory": { type: "string" },
          "student-max-machines": { type: "string" },
          "host-account-prefix": { type: "string" },
          role: { type: "string" },
          expires: { type: "string" },
          json: { type: "boolean", default: false },
        },
      });
      const c = await courses();
      const [course, ...others] = positionals;
      if (sub === "ls" || sub === "list") await c.listCourses(await endpoint(), values.json);
      else if (sub === "create") await c.createCourse(await (await admin()).adminEndpoint(), course, values);
      else if (sub === "enrol" || sub === "enroll") await c.enrol(await endpoint(), course, others, values.role);
      else if (sub === "token") await c.courseToken(await endpoint(), course, others, values.expires);
      else if (sub === "machines") await c.courseMachines(await endpoint(), course, values.json);
      else if (sub === "reset") return c.resetStudentMachine(await endpoint(), course, others[0], others[1]);
      else throw new Error(COURSE_USAGE);
      return 0;
    }
    case "lab": {
      const [sub, ...flags] = rest;
      const { values, positionals } = parseArgs({
        args: flags,
        allowPositionals: true,
        options: {
          time: { type: "string" },
          extend: { type: "string" },
          warn: { type: "string" },
          image: { type: "string" },
          memory: { type: "string" },
          "per-student": { type: "string" },
          opens: { type: "string" },
          prestart: { type: "string" },
          check: { type: "string" },
          idle: { type: "string" },
          wait: { type: "string" },
          json: { type: "boolean", default: false },
        },
      });
      const c = await courses();
      if (sub === "ls" || sub === "list") await c.listLabs(await endpoint(), positionals[0], values.json);
      else if (sub === "create") await c.createLab(await endpoint(), positionals[0], values);
      else if (sub === "check") return c.checkLab(await endpoint(), positionals[0], values);
      else throw new Error(COURSE_USAGE);
      return 0;
    }
    case "extend": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { by: { type: "string" } },
      });
      if (!positionals[0]) throw new Error("usage: gaol extend NAME [--by 15m]");
      await (await machines()).extend(await endpoint(), positionals[0], values.by);
      return 0;
    }
    case "ls": {
      await (await machines()).ls(await endpoint(), jsonFlag(rest).json);
      return 0;
    }
    case "images":
      await (await admin()).imagesCommand(await endpoint(), jsonFlag(rest).json);
      return 0;
    case "image": {
      const [sub, ...flags] = rest;
      const { values, positionals } = parseArgs({
        args: flags,
        allowPositionals: true,
        options: { from: { type: "string" }, every: { type: "string" } },
      });
      if (sub !== "sync") throw new Error("usage: gaol image sync NAME --from SOURCE [--every SECONDS]");
      return (await admin()).imageSyncCommand({ name: positionals[0], ...values });
    }
    case "hosts": {
      const [sub, ...flags] = rest;
      if (sub === "cordon" || sub === "uncordon" || sub === "drain") {
        const { values, positionals } = parseArgs({
          args: flags,
          allowPositionals: true,
          options: { wait: { type: "string" } },
        });
        return (await admin()).hostCordonCommand(sub, positionals[0], values.wait);
      }
      await (await admin()).hostsCommand(jsonFlag(rest).json);
      return 0;
    }
    case "logs": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { follow: { type: "boolean", short: "f", default: false }, json: { type: "boolean", default: false } },
      });
      if (!positionals[0]) throw new Error("usage: gaol logs NAME [-f] [--json]");
      await (await machines()).logs(await endpoint(), positionals[0], values.follow, values.json);
      return 0;
    }
    case "reboot": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean", default: false } },
      });
      if (!positionals[0]) throw new Error("usage: gaol reboot NAME [--json]");
      return (await machines()).reboot(await endpoint(), positionals[0], values.json);
    }
    case "reset": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean", default: false } },
      });
      if (!positionals[0]) throw new Error("usage: gaol reset NAME [--json]");
      return (await machines()).reset(await endpoint(), positionals[0], values.json);
    }
    case "rm": {
      if (!rest[0]) throw new Error("usage: gaol rm NAME");
      await (await machines()).rm(await endpoint(), rest[0]);
      return 0;
    }
    case "ssh": {
      // Like ssh itself: what follows the name is the command, with or without a `--` first.
      const x11 = rest[0] === "-X";
      const [name, ...after] = x11 ? rest.slice(1) : rest;
      if (!name || name.startsWith("-")) throw new Error("usage: gaol ssh [-X] NAME [CMD...]");
      return (await machines()).ssh(await endpoint(), name, after[0] === "--" ? after.slice(1) : after, { x11 });
    }
    case "term": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { owner: { type: "boolean", default: false } },
      });
      if (!positionals[0]) throw new Error("usage: gaol term NAME [--owner]");
      console.log(await (await machines()).terminalUrl(await endpoint(), positionals[0], values.owner));
      return 0;
    }
    case "key": {
      const [sub, name, file] = rest;
      if (sub !== "add") throw new Error("usage: gaol key add NAME [PUBLIC_KEY_FILE]");
      await (await machines()).addKey(await endpoint(), name, file);
      return 0;
    }
    case "ssh-config": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean", default: false }, write: { type: "boolean", default: false } },
      });
      await (await machines()).sshConfig(await endpoint(), positionals[0], values.json, values.write);
      return 0;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(rest[0] === "admin" ? ADMIN_USAGE : rest[0] === "course" ? COURSE_USAGE : USAGE);
      return 0;
    default:
      log(`unknown command "${command}": gaol help lists them`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    const message = error instanceof Error ? error.message : String(error);
    // Without GAOL_TOKEN the api's own advice (an Authorization header) is not what a shell user needs.
    const unset = /Not authorized/.test(message) && !process.env.GAOL_TOKEN;
    log(unset ? `${message.replace(/: no token was sent.*$/, "")}: set GAOL_TOKEN to your token` : message);
    process.exit(1);
  },
);
