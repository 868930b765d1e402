import type { GaolClient, Machine } from "../../sdk/client.js";
import { ago, minutes, span, stateLabel } from "../../sdk/format.js";
import type { CoursesQuery, LabCheckFieldsFragment } from "../../sdk/generated.js";
import { h, replace } from "./dom.js";

type Course = CoursesQuery["courses"][number];
type LabCheck = LabCheckFieldsFragment;

/** "58 min left", "40 s left", "ending": a lab machine's time, as its student reads it; "" for others. */
export function leaseText(m: Pick<Machine, "expiresAt">, now = Date.now()): string {
  if (!m.expiresAt) return "";
  const seconds = Math.round((Date.parse(m.expiresAt) - now) / 1000);
  return seconds <= 0 ? "ending" : `${span(seconds)} left`;
}

/** A lab machine's time left, kept current by tickTimeLeft(); empty for other machines. */
export function timeLeft(m: Pick<Machine, "expiresAt">, testid = "time-left"): HTMLElement {
  return h("span", { "data-testid": testid, "data-expires-at": m.expiresAt ?? undefined }, leaseText(m));
}

/** Moves every time left on the page on, without redrawing what holds them. */
export function tickTimeLeft(root: ParentNode = document): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-expires-at]"))
    el.textContent = leaseText({ expiresAt: el.dataset.expiresAt ?? null });
}

/**
 * The viewer's courses: each lab with a Start button, and for the course's staff a live table of
 * everyone's lab machines (the instructor's dashboard). Machines come from the page's own stream.
 */
export class CoursesView {
  readonly element = h("div", { class: "courses" });
  private courses: Course[] = [];
  private readonly machines = new Map<string, Machine>();
  private readonly problem = h("p", { class: "error", role: "alert" });
  /** Each course's latest check run started from this page. */
  private readonly checks = new Map<string, LabCheck>();

  constructor(
    private readonly client: GaolClient,
    private readonly started: (machine: Machine) => void,
    /** Staff chose a student's machine: the page shows its boot and console, to read. */
    private readonly chosen: (machine: Machine) => void,
  ) {}

  async load(): Promise<void> {
    this.courses = await this.client.courses();
    const staffOf = this.courses.filter((c) => c.viewerRole !== "STUDENT");
    for (const course of staffOf)
      for (const m of await this.client.courseMachines(course.name)) this.machines.set(m.id, m);
    this.render();
  }

  /** A machine the page's stream says changed: staff see their course's students' machines change too. */
  changed(machine: Machine): void {
    if (!machine.lab) return;
    this.machines.set(machine.id, machine);
    this.render();
  }

  render(): void {
    replace(this.element, ...this.courses.map((c) => this.courseCard(c)));
  }

  private courseCard(course: Course): HTMLElement {
    const staff = course.viewerRole !== "STUDENT";
    return h(
      "section",
      { class: "card", "data-testid": `course-${course.name}` },
      h(
        "h2",
        {},
        course.title ? `${course.title} (${course.name})` : course.name,
        " ",
        h("small", {}, course.viewerRole.toLowerCase()),
      ),
      h(
        "ul",
        { class: "labs" },
        ...course.labs
          .filter((lab) => lab.checkScript)
          .map((lab) =>
            h(
              "li",
              { "data-testid": `lab-${lab.name}` },
              h("strong", {}, lab.name),
              ` · ${lab.image.name} · ${lab.memoryMiB} MiB · ${minutes(lab.timeLimitSeconds)}`,
              lab.maxExtensionSeconds ? ` (+${minutes(lab.maxExtensionSeconds)})` : "",
              h(
                "button",
                { "data-testid": "start-lab", onclick: () => void this.start(course.name, lab.name) },
                "Start",
              ),
            ),
          ),
      ),
      course.labs.length ? null : h("p", { class: "empty" }, "No labs yet."),
      this.problem,
      staff ? this.dashboard(course) : null,
    );
  }

  private async start(course: string, lab: string): Promise<void> {
    this.problem.textContent = "";
    try {
      this.started(await this.client.startLab(course, lab));
    } catch (error) {
      this.problem.textContent = error instanceof Error ? error.message : String(error);
    }
  }

  /** Staff: everyone's live lab machines in the course, their state, address and time left. */
  private dashboard(course: Course): HTMLElement {
    const rows = [...this.machines.values()]
      .filter((m) => m.lab?.course.name === course.name && m.state !== "DESTROYED")
      .sort((a, b) => a.owner.name.localeCompare(b.owner.name) || a.name.localeCompare(b.name))
      .map((m) =>
        h(
          "tr",
          {
            "data-testid": `course-machine-${m.owner.name}-${m.name}`,
            title: "Show its console",
            onclick: () => this.chosen(m),
          },
          h("td", {}, m.owner.name),
          h("td", {}, m.name),
          h("td", {}, m.lab?.name ?? "–"),
          h("td", {}, stateLabel(m)),
          h("td", {}, m.ipAddress ?? "–"),
          h("td", {}, m.lastActivityAt ? `${ago(m.lastActivityAt)} (${m.lastActivityKind?.toLowerCase()})` : "–"),
          h("td", {}, timeLeft(m)),
          h(
            "td",
            { class: "actions" },
            h(
              "button",
              {
                class: "secondary",
                "data-testid": "reset",
                disabled: m.state !== "READY",
                title: "Back to the lab's starter disk; the student's home is kept",
                onclick: (event) => {
                  event.stopPropagation();
                  void this.reset(m);
                },
              },
              "Reset",
            ),
          ),
        ),
      );
    const checks = this.checks.get(course.name);
    return h(
      "div",
      { class: "scroll" },
      h("h3", {}, "Students' machines"),
      h(
        "table",
        { "data-testid": "course-machines" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["Student", "Machine", "Lab", "State", "Address", "Active", "Time", ""].map((t) => h("th", {}, t)),
          ),
        ),
        h(
          "tbody",
          {},
          ...(rows.length ? rows : [h("tr", {}, h("td", { colSpan: 8, class: "empty" }, "No lab machines running."))]),
        ),
      ),
      ...course.labs.map((lab) =>
        h(
          "p",
          {},
          h(
            "button",
            { "data-testid": `check-${lab.name}`, onclick: () => void this.check(course.name, lab.name) },
            `Run ${lab.name}'s check`,
          ),
        ),
      ),
      checks ? this.checkTable(checks) : null,
    );
  }

  /** The latest check run's results: who passed, with the last line each printed. */
  private checkTable(check: LabCheck): HTMLElement {
    return h(
      "table",
      { "data-testid": "check-results" },
      h("thead", {}, h("tr", {}, ...["Student", "Machine", "Result", "Exit", "Output"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        ...check.results.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, r.owner),
            h("td", {}, r.machineName),
            h("td", {}, h("span", { class: `state ${r.state.toLowerCase()}` }, r.state)),
            h("td", {}, r.exitCode ?? "–"),
            h("td", { class: "mono" }, (r.output ?? "").trim().split("\n").at(-1) ?? ""),
          ),
        ),
      ),
    );
  }

  private async reset(machine: Machine): Promise<void> {
    this.problem.textContent = "";
    if (
      !window.confirm(
        `Reset ${machine.owner.name}'s ${machine.name} to the lab's starter disk? Their home directory is kept.`,
      )
    )
      return;
    try {
      this.changed(await this.client.reset(machine.id));
    } catch (error) {
      this.problem.textContent = error instanceof Error ? error.message : String(error);
    }
  }

  /** Runs the lab's check and shows its results as they come in (until all are in, or a minute). */
  private async check(course: string, lab: string): Promise<void> {
    this.problem.textContent = "";
    try {
      let check = await this.client.runLabCheck(course, lab);
      const until = Date.now() + 60_000;
      for (;;) {
        this.checks.set(course, check);
        this.render();
        if (check.done || Date.now() > until) return;
        await new Promise((r) => setTimeout(r, 1000));
        check = (await this.client.labCheck(check.id)) ?? check;
      }
    } catch (error) {
      this.problem.textContent = error instanceof Error ? error.message : String(error);
    }
  }
}
