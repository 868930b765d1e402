import { existsSync } from "node:fs";
import { type HostConfig, paths } from "./config.js";
import { MachineExistsError } from "./errors.js";
import type { EventSink } from "./events.js";
import { newestVersion } from "./image/versions.js";
import { createAndLaunch } from "./machine/provision.js";
import { type MachineRecord, readRecord } from "./machine/record.js";
import { type MachineSpec, validateSpec } from "./machine/spec.js";
import { type ReadyInfo, Supervisor } from "./machine/supervise.js";
import { teardown } from "./machine/teardown.js";
import { lookupAccount } from "./owner/account.js";
import { Reverter } from "./reverter.js";

export interface MachineHandle {
  record: MachineRecord;
  /** Resolves once ssh at the leased address presents this machine's host key. */
  ready: Promise<ReadyInfo>;
}

/**
 * The host agent's core: provisions, supervises and destroys the UML
 * machines of this host. One operation at a time per machine name.
 */
export class Host {
  private readonly supervisors = new Map<string, Supervisor>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly config: HostConfig,
    private readonly options: { bootTimeoutMs: number } = { bootTimeoutMs: 120_000 },
  ) {}

  /** Validates, makes every resource (undone on failure), boots, and returns at once; READY comes later. */
  provision(spec: MachineSpec, sink: EventSink): Promise<MachineHandle> {
    return this.exclusive(spec.name, async () => {
      const valid = validateSpec(spec);
      const owner = await lookupAccount(valid.owner);
      const version = await newestVersion(this.config, valid.image);
      if (existsSync(paths.machine(this.config, valid.name))) throw new MachineExistsError(valid.name);
      sink({ kind: "state", state: "PROVISIONING" });
      const { record, exited } = await Reverter.run(async (reverter) => {
        const launched = await createAndLaunch(this.config, valid, owner, version, reverter);
        sink({ kind: "state", state: "BOOTING" });
        const supervisor = new Supervisor(launched.record, sink, launched.exited, this.options);
        await supervisor.start();
        this.supervisors.set(valid.name, supervisor);
        return launched;
      });
      const supervisor = this.supervisors.get(valid.name) as Supervisor;
      void exited;
      supervisor.failed.then((reason) => this.onFailure(record, supervisor, reason, sink));
      return { record, ready: supervisor.ready };
    });
  }

  /**
   * Stops and removes a machine; a machine that does not exist is already
   * destroyed. `graceful` asks the guest to shut down cleanly (ctrl-alt-del)
   * and waits up to 15 s; otherwise the kernel is halted at once. Resolves to
   * whether the kernel exited by itself.
   */
  destroy(name: string, sink: EventSink = () => undefined, options: { graceful?: boolean } = {}): Promise<boolean> {
    return this.exclusive(name, async () => {
      const dir = paths.machine(this.config, name);
      const record = await readRecord(dir);
      if (!record) return true;
      sink({ kind: "state", state: "STOPPING" });
      const supervisor = this.supervisors.get(name);
      this.supervisors.delete(name);
      supervisor?.expectExit();
      const clean = await teardown(record, dir, options.graceful ? { how: "cad", graceMs: 15_000 } : {});
      await supervisor?.stop();
      sink({ kind: "state", state: "DESTROYED" });
      return clean;
    });
  }

  /** Names of the machines this agent supervises. */
  names(): string[] {
    return [...this.supervisors.keys()];
  }

  private async onFailure(record: MachineRecord, supervisor: Supervisor, reason: string, sink: EventSink) {
    await this.exclusive(record.name, async () => {
      if (this.supervisors.get(record.name) !== supervisor) return;
      this.supervisors.delete(record.name);
      await supervisor.stop();
      await teardown(record, paths.machine(this.config, record.name)).catch(() => undefined);
      sink({ kind: "state", state: "FAILED", reason, lastConsoleLines: supervisor.consoleTail });
    });
  }

  private exclusive<T>(name: string, body: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(body);
    this.locks.set(name, next);
    next
      .finally(() => {
        if (this.locks.get(name) === next) this.locks.delete(name);
      })
      .catch(() => undefined);
    return next;
  }
}
