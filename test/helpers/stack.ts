import { Agent } from "../../agent/agent.js";
import type { Capacity } from "../../agent/heartbeat.js";
import type { DialMachine } from "../../api/screens/ssh.js";
import type { HostConfig } from "../../host/config.js";
import { Host } from "../../host/host.js";
import { startTestApi, type TestApi } from "./api.js";

/** An api (on real Postgres) and a real agent for one host, as a test file runs them. */
export interface TestStack {
  api: TestApi;
  url: string;
  agent: Agent;
  /** Stops the agent, destroys every machine it left on the host, and closes the api. */
  stop(): Promise<void>;
}

export async function startStack(
  hostName: string,
  config: HostConfig,
  capacity: Capacity,
  dialMachine?: DialMachine,
): Promise<TestStack> {
  const api = await startTestApi("postgres", undefined, { dialMachine });
  const url = await api.app.start(0);
  const agent = new Agent({
    api: url,
    token: await api.login(hostName, "AGENT", { hostMemoryMiB: 0 }),
    config,
    capacity,
  });
  await agent.start();
  return {
    api,
    url,
    agent,
    async stop() {
      await agent.stop().catch(() => undefined);
      const host = new Host(config);
      for (const id of await host.localIds().catch(() => [])) await host.destroy(id).catch(() => undefined);
      await api.close();
    },
  };
}
