import { createClient } from "graphql-ws";
import { GaolClient, type Machine } from "../../sdk/client.js";
import { type MachineEvent, websocketUrl } from "../../sdk/events.js";
import { ago, span, stateLabel } from "../../sdk/format.js";
import { MachineChangesDocument, type ViewerQuery } from "../../sdk/generated.js";
import type { TerminalLogin } from "../../sdk/terminal.js";
import { CoursesView, tickTimeLeft, timeLeft } from "./courses.js";
import type { DesktopPanel } from "./desktop.js";
import { h, replace } from "./dom.js";
import { TerminalPanel } from "./terminal.js";

type Viewer = ViewerQuery["viewer"];

const TOKEN_KEY = "gaol.token";
const KEY_KEY = "gaol.sshPublicKey";
const url = new URL("/graphql", location.href).toString();
const app = document.getElementById("app") as HTMLElement;
const who = document.getElementById("who") as HTMLElement;

const state = {
  client: undefined as GaolClient | undefined,
  viewer: undefined as Viewer | undefined,
  machines: new Map<string, Machine>(),
  selected: undefined as string | undefined,
  stopMachines: undefined as (() => void) | undefined,
  stopEvents: undefined as (() => void) | undefined,
  courses: undefined as CoursesView | undefined,
  terminal: undefined as { machineId: string; panel: TerminalPanel | DesktopPanel } | undefined,
};

function message(error: unknown): string {
  // A ValidationError's message already names each field once.
  return error instanceof Error ? error.message : String(error);
}

// --- signing in ---------------------------------------------------------

function showSignIn(problem?: string): void {
  state.stopMachines?.();
  state.stopEvents?.();
  replace(who);
  const input = h("input", {
    type: "password",
    name: "token",
    placeholder: "gaol_…",
    autocomplete: "off",
    "data-testid": "token",
  });
  const form = h(
    "form",
    {
      class: "card signin",
      onsubmit: (event) => {
        event.preventDefault();
        void signIn(input.value.trim());
      },
    },
    h("h2", {}, "Sign in"),
    h(
      "p",
      {},
      "Paste the API token your course or admin gave you (",
      h("code", {}, "gaol token create"),
      " makes one).",
    ),
    input,
    h("button", { type: "submit", "data-testid": "sign-in" }, "Sign in"),
    problem ? h("p", { class: "error", role: "alert" }, problem) : null,
  );
  replace(app, form);
  input.focus();
}

async function signIn(token: string): Promise<void> {
  const client = new GaolClient({ url, token });
  try {
    state.viewer = await client.viewer();
  } catch (error) {
    showSignIn(message(error));
    return;
  }
  localStorage.setItem(TOKEN_KEY, token);
  state.client = client;
  replace(
    who,
    h("span", { "data-testid": "viewer" }, `${state.viewer.name} (${state.viewer.role.toLowerCase()})`),
    h("a", { href: "/graphql", target: "_blank" }, "GraphiQL"),
    h("button", { class: "link", onclick: signOut }, "Sign out"),
  );
  await showMachines();
}

function signOut(): void {
  closeTerminal();
  localStorage.removeItem(TOKEN_KEY);
  state.client = undefined;
  state.machines.clear();
  state.selected = undefined;
  state.courses = undefined;
  showSignIn();
}

// --- the machine list, live --------------------------------------------

const listBody = h("tbody", { "data-testid": "machine-list" });
const detail = h("section", { class: "card detail", "data-testid": "machine-detail" });
const admin = h("section", { class: "admin" });
const createError = h("p", { class: "error", role: "alert" });
/** The newest lease warning of the viewer's machine, above everything: it is the one thing not to miss. */
const leaseBanner = h("div", { class: "lease-banner", role: "alert", "data-testid": "lease-warning", hidden: true });

async function showMachines(): Promise<void> {
  const client = state.client as GaolClient;
  const open = (machine: Machine) => {
    state.machines.set(machine.id, machine);
    renderList();
    select(machine.id);
  };
  state.courses = new CoursesView(client, open, open);
  replace(
    app,
    leaseBanner,
    h("div", { class: "columns" }, h("div", {}, createForm(), machineTable()), detail),
    state.courses.element,
    admin,
  );
  await reloadMachines();
  void state.courses.load().catch((error) => console.error("courses", error));
  followMachines();
  if (state.viewer?.role === "ADMIN") void showAdmin();
  renderDetail();
  await reopenTerminal();
}

/** A reload finds its terminal again: the api kept the session, and replays it. */
async function reopenTerminal(): Promise<void> {
  const wanted = terminalInHash();
  if (!wanted || !state.client) return;
  const machine =
    state.machines.get(wanted.machineId) ?? (await state.client.machine(wanted.machineId).catch(() => undefined));
  if (!machine) return;
  state.machines.set(machine.id, machine);
  select(machine.id);
  if (wanted.login === "DESKTOP") await openDesktopPanel(machine);
  else openTerminalPanel(machine, wanted.login);
}

async function reloadMachines(): Promise<void> {
  if (!state.client) return;
  try {
    const machines = await state.client.machines();
    state.machines = new Map(machines.map((m) => [m.id, m]));
    renderList();
  } catch (error) {
    createError.textContent = message(error);
  }
}

function followMachines(): void {
  const token = state.client?.endpoint.token;
  const ws = createClient({
    url: websocketUrl({ url }),
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: Number.POSITIVE_INFINITY,
    // A reconnect may have missed changes: reload the whole list.
    on: { connected: (_socket, _payload, wasRetry) => wasRetry && void reloadMachines() },
  });
  const stop = ws.subscribe<{ machines: Machine }>(
    { query: MachineChangesDocument.toString() },
    {
      next: ({ data }) => {
        if (!data) return;
        state.courses?.changed(data.machines);
        // A student's machine that staff opened from the course's table stays current too.
        if (!mine(data.machines) && data.machines.id !== state.selected) return;
        state.machines.set(data.machines.id, data.machines);
        renderList();
        if (data.machines.id === state.selected) renderDetailHeader();
      },
      error: (error) => console.error("machines subscription", error),
      complete: () => undefined,
    },
  );
  state.stopMachines = () => {
    stop();
    void ws.dispose();
  };
}

/** The list holds the viewer's own machines (an admin's: everyone's); course staff see students' in the course's card. */
function mine(m: Machine): boolean {
  return state.viewer?.role === "ADMIN" || m.owner.name === state.viewer?.name;
}

function visibleMachines(): Machine[] {
  return [...state.machines.values()]
    .filter((m) => m.state !== "DESTROYED" && mine(m))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

function machineTable(): HTMLElement {
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Machines"),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h("tr", {}, ...["Name", "State", "Address", "Memory", "Owner", "Time", ""].map((t) => h("th", {}, t))),
        ),
        listBody,
      ),
    ),
  );
}

function renderList(): void {
  const rows = visibleMachines().map((m) =>
    h(
      "tr",
      {
        class: m.id === state.selected ? "selected" : "",
        "data-testid": `machine-${m.name}`,
        onclick: () => select(m.id),
      },
      h("td", {}, h("strong", {}, m.name)),
      h("td", {}, stateBadge(m, "state")),
      h("td", {}, m.ipAddress ?? "–"),
      h("td", {}, `${m.memoryMiB} MiB`),
      h("td", {}, m.owner.name),
      h("td", {}, timeLeft(m)),
      h(
        "td",
        { class: "actions" },
        rebootButton(m),
        h(
          "button",
          {
            class: "danger",
            "data-testid": "destroy",
            disabled: m.desiredState === "DESTROYED",
            onclick: (event) => {
              event.stopPropagation();
              void destroy(m);
            },
          },
          m.desiredState === "DESTROYED" ? "Destroying…" : "Destroy",
        ),
      ),
    ),
  );
  replace(
    listBody,
    ...(rows.length ? rows : [h("tr", {}, h("td", { colSpan: 7, class: "empty" }, "No machines yet."))]),
  );
}

function createForm(): HTMLElement {
  const name = h("input", {
    name: "name",
    placeholder: "lab-1 (optional)",
    pattern: "[a-z0-9]([a-z0-9\\-]{0,30}[a-z0-9])?",
    "data-testid": "new-name",
  });
  const memory = h("input", { name: "memory", type: "number", min: 64, step: 64, placeholder: "MiB (optional)" });
  const key = h("textarea", { name: "key", rows: 2, placeholder: "ssh-ed25519 AAAA… (your public key, for ssh)" });
  key.value = localStorage.getItem(KEY_KEY) ?? "";
  return h(
    "form",
    {
      class: "card create",
      onsubmit: (event) => {
        event.preventDefault();
        void create(name.value.trim(), memory.value, key.value.trim()).then((ok) => {
          if (ok) name.value = "";
        });
      },
    },
    h("h2", {}, "New machine"),
    h("label", {}, "Name", name),
    h("label", {}, "Memory", memory),
    h("label", { class: "wide" }, "SSH public key", key),
    h("button", { type: "submit", "data-testid": "create" }, "Create"),
    createError,
  );
}

async function create(name: string, memory: string, key: string): Promise<boolean> {
  if (!state.client) return false;
  createError.textContent = "";
  if (key) localStorage.setItem(KEY_KEY, key);
  try {
    const machine = await state.client.provision({
      name: name || undefined,
      memoryMiB: memory ? Number(memory) : undefined,
      sshPublicKeys: key ? [key] : [],
    });
    state.machines.set(machine.id, machine);
    renderList();
    select(machine.id);
    return true;
  } catch (error) {
    createError.textContent = message(error);
    return false;
  }
}

/** The machine's state as a badge: "READY (unresponsive)" stands out from a healthy READY. */
function stateBadge(m: Machine, testid: string): HTMLElement {
  const unresponsive = m.health?.status === "UNRESPONSIVE";
  return h(
    "span",
    { class: `state ${unresponsive ? "unresponsive" : m.state.toLowerCase()}`, "data-testid": testid },
    stateLabel(m),
  );
}

/** A new boot on the same disk: only a READY or RUNNING machine takes one (the api says so too). */
function rebootButton(m: Machine): HTMLElement {
  const rebootable = (m.state === "READY" || m.state === "RUNNING") && m.desiredState !== "DESTROYED";
  return h(
    "button",
    {
      class: "secondary",
      "data-testid": "reboot",
      disabled: !rebootable,
      title: "Restart its kernel on the same disk",
      onclick: (event) => {
        event.stopPropagation();
        void reboot(m);
      },
    },
    "Reboot",
  );
}

async function reboot(machine: Machine): Promise<void> {
  try {
    const rebooted = await state.client?.reboot(machine.id);
    if (rebooted) state.machines.set(rebooted.id, rebooted);
    renderList();
    if (machine.id === state.selected) renderDetailHeader();
  } catch (error) {
    createError.textContent = message(error);
  }
}

async function destroy(machine: Machine): Promise<void> {
  const question = `Destroy ${machine.name}? Its root disk and everything installed on it are deleted; your home directory is kept.`;
  if (!window.confirm(question)) return;
  try {
    const destroyed = await state.client?.destroy(machine.id);
    if (destroyed) state.machines.set(destroyed.id, destroyed);
    renderList();
  } catch (error) {
    createError.textContent = message(error);
  }
}

// --- one machine: its stages and its boot log, live --------------------

const header = h("div", { class: "detail-header" });
const timeline = h("ol", { class: "timeline", "data-testid": "timeline" });
const log = h("pre", { class: "log", "data-testid": "log" });
const terminalBox = h("div", { class: "terminal-box" });

// --- the machine's terminal: xterm.js over the api's /terminal socket ---

/** `#terminal=ID[&login=OWNER]` or `#desktop=ID`: a screen to open (a reload, or a URL from gaol term). */
function terminalInHash(): { machineId: string; login: TerminalLogin | "DESKTOP" } | undefined {
  const params = new URLSearchParams(location.hash.slice(1));
  const desktop = params.get("desktop");
  if (desktop) return { machineId: desktop, login: "DESKTOP" };
  const machineId = params.get("terminal");
  return machineId ? { machineId, login: params.get("login") === "OWNER" ? "OWNER" : "ROOT" } : undefined;
}

/** noVNC loads with the first desktop opened: most visits never need it. */
async function openDesktopPanel(machine: Machine): Promise<void> {
  closeTerminal();
  const token = state.client?.endpoint.token;
  if (!token) return;
  const { DesktopPanel } = await import("./desktop.js");
  showScreen(
    machine,
    new DesktopPanel({ url, token }, machine.id),
    "Desktop",
    "desktop",
    `#desktop=${encodeURIComponent(machine.id)}`,
  );
}

function openTerminalPanel(machine: Machine, login: TerminalLogin): void {
  closeTerminal();
  const token = state.client?.endpoint.token;
  if (!token) return;
  const panel = new TerminalPanel({ url, token }, machine.id, login);
  const title = login === "OWNER" ? `Terminal (${machine.owner.hostUser ?? machine.owner.name})` : "Terminal (root)";
  const hash = `#terminal=${encodeURIComponent(machine.id)}${login === "OWNER" ? "&login=OWNER" : ""}`;
  showScreen(machine, panel, title, "terminal", hash);
  panel.focus();
}

/** A screen above the machine's boot log, named in the URL so that a reload opens it again. */
function showScreen(
  machine: Machine,
  panel: TerminalPanel | DesktopPanel,
  title: string,
  testid: string,
  hash: string,
): void {
  state.terminal = { machineId: machine.id, panel };
  history.replaceState(null, "", hash);
  const close = h(
    "button",
    { class: "secondary", "data-testid": `${testid}-close`, onclick: () => closeTerminal() },
    "Close",
  );
  replace(terminalBox, h("div", { class: "terminal-bar" }, h("h3", {}, title), close), panel.element);
}

function closeTerminal(): void {
  if (!state.terminal) return;
  state.terminal.panel.close();
  state.terminal = undefined;
  replace(terminalBox);
  if (terminalInHash()) history.replaceState(null, "", location.pathname);
}

/** The owner opens a shell as root or as themselves; staff watch the owner's. */
function terminalButtons(m: Machine): HTMLElement {
  if (m.state !== "READY" || m.screenAccess === "NONE") return h("span");
  const button = (label: string, testid: string, login: TerminalLogin) =>
    h("button", { class: "secondary", "data-testid": testid, onclick: () => openTerminalPanel(m, login) }, label);
  return h(
    "div",
    { class: "terminal-buttons" },
    ...(m.screenAccess === "CONTROL"
      ? [
          button("Terminal", "open-terminal", "ROOT"),
          button(`Terminal as ${m.owner.hostUser ?? m.owner.name}`, "open-terminal-owner", "OWNER"),
        ]
      : [button("Watch terminal", "watch-terminal", "ROOT")]),
    h(
      "button",
      { class: "secondary", "data-testid": "open-desktop", onclick: () => void openDesktopPanel(m) },
      m.screenAccess === "CONTROL" ? "Desktop" : "Watch desktop",
    ),
    // A lab machine's owner may let the course's staff type too, to show something or fix it.
    ...(m.lab && m.owner.name === state.viewer?.name
      ? [
          h(
            "button",
            { class: "secondary", "data-testid": "share-screen", onclick: () => void share(m, !m.screenShared) },
            m.screenShared ? "Staff may type: stop" : "Let staff type",
          ),
        ]
      : []),
  );
}

async function share(machine: Machine, shared: boolean): Promise<void> {
  try {
    const changed = await state.client?.shareScreen(machine.id, shared);
    if (changed) state.machines.set(changed.id, changed);
    renderDetail();
  } catch (error) {
    createError.textContent = message(error);
  }
}

function select(id: string): void {
  state.selected = id;
  renderList();
  renderDetail();
}

function renderDetail(): void {
  state.stopEvents?.();
  state.stopEvents = undefined;
  const machine = state.selected ? state.machines.get(state.selected) : undefined;
  if (!machine || !state.client) {
    replace(detail, h("p", { class: "empty" }, "Choose a machine to see its boot."));
    return;
  }
  replace(timeline);
  replace(log);
  if (state.terminal?.machineId !== machine.id) closeTerminal();
  replace(detail, header, terminalBox, h("h3", {}, "Boot"), timeline, h("h3", {}, "Console"), log);
  renderDetailHeader();
  const events = state.client.events(machine.id);
  let stopped = false;
  state.stopEvents = () => {
    stopped = true;
    void events.return(undefined);
  };
  void (async () => {
    try {
      for await (const event of events) {
        if (stopped) break;
        show(machine, event);
      }
    } catch (error) {
      if (!stopped) log.append(h("span", { class: "error" }, `\n${message(error)}`));
    }
  })();
}

/** A key's type and base64 only: whatever else a key string carries never reaches a shell. */
const KEY_TEXT = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+={0,3})(?: |$)/;

/**
 * The ssh command that trusts only the keys the host verified, in the file `gaol ssh` uses:
 * a reused address never meets "REMOTE HOST IDENTIFICATION HAS CHANGED", nor a stranger's key.
 */
function pinnedSshCommand(name: string, ip: string, keys: Machine["sshHostKeys"]): string {
  const lines = keys.flatMap((k) => {
    const match = KEY_TEXT.exec(k.publicKey);
    return match ? [`'${ip} ${match[1]} ${match[2]}'`] : [];
  });
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return "";
  if (!lines.length) return `ssh root@${ip}`;
  const file = `~/.config/gaol/known_hosts/${name}`;
  return (
    `mkdir -p ~/.config/gaol/known_hosts && printf '%s\\n' ${lines.join(" ")} > ${file} && ` +
    `ssh -o UserKnownHostsFile=${file} -o StrictHostKeyChecking=yes root@${ip}`
  );
}

function renderDetailHeader(): void {
  const m = state.selected ? state.machines.get(state.selected) : undefined;
  if (!m) return;
  const command = m.ipAddress ? pinnedSshCommand(m.name, m.ipAddress, m.sshHostKeys) : "";
  replace(
    header,
    h("h2", {}, m.name, " ", stateBadge(m, "detail-state")),
    m.stateReason ? h("p", { class: "error" }, m.stateReason) : h("span"),
    m.health?.status === "UNRESPONSIVE"
      ? h(
          "div",
          { class: "unresponsive-note", "data-testid": "unresponsive" },
          h(
            "p",
            {},
            `Not answering since ${ago(m.health.since)}: ${m.health.reason ?? "the host's probes fail"}. `,
            "A reboot starts its kernel again on the same disk.",
          ),
          rebootButton(m),
        )
      : h("span"),
    m.expiresAt ? leaseNote(m) : h("span"),
    terminalButtons(m),
    h(
      "dl",
      {},
      h("dt", {}, "Owner"),
      h("dd", {}, m.owner.name),
      h("dt", {}, "Image"),
      h("dd", {}, m.imageVersion ? `${m.image.name} version ${m.imageVersion}` : m.image.name),
      h("dt", {}, "Address"),
      h("dd", { "data-testid": "ip" }, m.ipAddress ?? "–"),
      h("dt", {}, "Host keys"),
      h("dd", {}, ...m.sshHostKeys.map((k) => h("div", { class: "mono" }, `${k.type} ${k.fingerprintSha256}`))),
    ),
    command
      ? h(
          "div",
          { class: "ssh" },
          h("code", { "data-testid": "ssh-command" }, command),
          h(
            "button",
            { onclick: () => void navigator.clipboard?.writeText(command), title: "Copy the ssh command" },
            "Copy",
          ),
        )
      : h("span"),
  );
}

/** A lab machine's end, and a button for more time while its lab allows it. */
function leaseNote(m: Machine): HTMLElement {
  const left = m.extensionLeftSeconds ?? 0;
  const by = Math.min(left, 900);
  return h(
    "p",
    { class: "lease", "data-testid": "lease" },
    `Lab ${m.lab?.course.name}/${m.lab?.name}: `,
    timeLeft(m, "lease-left"),
    ` (ends ${new Date(m.expiresAt as string).toLocaleTimeString()}). `,
    "Your home directory is kept when it ends. ",
    left > 0
      ? h(
          "button",
          { class: "secondary", "data-testid": "extend", onclick: () => void extend(m, by) },
          `Add ${span(by)}`,
        )
      : "It cannot be extended further.",
  );
}

async function extend(machine: Machine, seconds: number): Promise<void> {
  try {
    const extended = await state.client?.extend(machine.id, seconds);
    if (extended) state.machines.set(extended.id, extended);
    leaseBanner.hidden = true;
    renderList();
    renderDetailHeader();
  } catch (error) {
    createError.textContent = message(error);
  }
}

function show(machine: Machine, event: MachineEvent): void {
  const since = `+${((Date.parse(event.at) - Date.parse(machine.createdAt)) / 1000).toFixed(2)} s`;
  const step = (label: string, note = "", kind = "") =>
    timeline.append(
      h(
        "li",
        { class: kind, "data-testid": "stage" },
        h("span", {}, label),
        h(
          "small",
          { title: "after the machine was asked for; guest: by the kernel's own clock" },
          note ? `${since} · ${note}` : since,
        ),
      ),
    );
  switch (event.__typename) {
    case "ConsoleOutput":
      log.append(`${event.text}\n`);
      if (log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
      return;
    case "MachineStateChanged":
      step(event.state, event.reason ?? "", event.state.toLowerCase());
      return;
    case "BootStageReached":
      // The host's DhcpLeaseAcquired says the same with the address: one line, not two.
      if (event.stage === "lease") return;
      step(event.stage, event.uptimeSeconds != null ? `guest ${event.uptimeSeconds.toFixed(2)} s` : "");
      return;
    case "BootStepFailed":
      step(`${event.step} failed`, event.failure, "failed");
      return;
    case "DhcpLeaseAcquired":
      step(`lease ${event.ip}`);
      return;
    case "HomeMounted":
      step(`home ${event.path}`);
      return;
    case "LeaseWarning":
      step("no DHCP answer", event.message, event.gaveUp ? "failed" : "warning");
      return;
    case "MachineLimitReached":
      step(`${event.limit} limit`, `stopped at ${event.max} (${event.count}×)`, "warning");
      return;
    case "SshReady":
      step(`ssh verified ${event.ip}:${event.port}`);
      return;
    case "MachineUnresponsive":
      step("unresponsive", `${event.probeFailure}; ${event.failures} probes failed in a row`, "failed");
      return;
    case "MachineResponsive":
      step("responsive again", `after ${Math.round(event.unresponsiveSeconds)} s`, "ready");
      return;
    case "MachineExpiring":
      step("ends soon", event.message, "warning");
      // Only a warning still ahead is news: a replayed one from before an extension is history.
      if (
        Date.parse(event.endsAt) > Date.now() &&
        Date.parse(event.endsAt) === Date.parse(state.machines.get(machine.id)?.expiresAt ?? "")
      ) {
        leaseBanner.textContent = `${machine.name}: ${event.message}`;
        leaseBanner.hidden = false;
      }
      return;
    case "MachineLeaseExtended":
      step("extended", `+${span(event.bySeconds)} by ${event.by}`);
      return;
    default:
      return;
  }
}

// --- admins: hosts and images -------------------------------------------

async function showAdmin(): Promise<void> {
  if (!state.client) return;
  const [hosts, images] = await Promise.all([state.client.hosts(), state.client.images()]);
  const table = (heads: string[], rows: string[][]) =>
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", {}, t)))),
        h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
      ),
    );
  replace(
    admin,
    h(
      "section",
      { class: "card", "data-testid": "hosts" },
      h("h2", {}, "Hosts"),
      table(
        ["Host", "Status", "Machines", "Memory", "Heartbeat"],
        hosts.map((x) => [
          x.name,
          x.downSince ? `down since ${ago(x.downSince)}` : x.cordonedAt ? "up, cordoned" : "up",
          `${x.machineCount} / ${x.maxMachines}`,
          `${x.usedMemoryMiB} / ${x.memoryMiB} MiB`,
          ago(x.lastHeartbeatAt),
        ]),
      ),
    ),
    h(
      "section",
      { class: "card", "data-testid": "images" },
      h("h2", {}, "Images"),
      table(
        ["Image", "Version", "Size", "Built"],
        images.flatMap((i) =>
          (i.versions.length ? i.versions : [undefined]).map((v) => [
            i.name,
            v ? String(v.version) : "–",
            v?.sizeBytes ? `${Math.round(v.sizeBytes / 2 ** 20)} MiB` : "–",
            v ? ago(v.createdAt) : "–",
          ]),
        ),
      ),
    ),
  );
}

// Time left moves on by itself.
setInterval(() => tickTimeLeft(), 1000);

const saved = localStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved);
else showSignIn();
