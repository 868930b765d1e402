import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../helpers/api.js";

const PROVISION = `mutation ($input: ProvisionMachineInput!) {
  provisionMachine(input: $input) {
    __typename
    ... on ProvisionMachinePayload { machine { id name state memoryMiB owner { name } } }
    ... on Error { message }
    ... on ValidationError { fields { field message } }
    ... on QuotaExceededError { quota limit requested }
  }
}`;

let api: TestApi;
let ann: string;
let bob: string;
let admin: string;
let agent: string;
let otherAgent: string;

beforeAll(async () => {
  api = await startTestApi();
  agent = await api.login("host-a", "AGENT");
  otherAgent = await api.login("host-b", "AGENT", { hostMemoryMiB: 0 });
  ann = await api.login("ann");
  bob = await api.login("bob");
  admin = await api.login("root-admin", "ADMIN");
});
afterAll(() => api?.close());

async function provision(token: string, input: object) {
  const { data, errors } = await api.gql(token, PROVISION, { input });
  expect(errors).toBeUndefined();
  return data?.provisionMachine;
}

describe("provisionMachine", () => {
  it("records a PENDING machine placed on a live host with room", async () => {
    const result = await provision(ann, { name: "lab-1", memoryMiB: 512 });
    expect(result).toMatchObject({
      __typename: "ProvisionMachinePayload",
      machine: { name: "lab-1", state: "PENDING", memoryMiB: 512, owner: { name: "ann" } },
    });
    const { data } = await api.gql(admin, "query ($id: ID!) { machine(id: $id) { host { name } } }", {
      id: result.machine.id,
    });
    expect(data?.machine.host.name).toBe("host-a");
  });

  it("refuses a user with no host account at once, saying who can fix it", async () => {
    const nobody = await api.login("no-account", "ADMIN");
    const result = await provision(nobody, { name: "lab-nobody" });
    expect(result.__typename).toBe("NoHostAccountError");
    expect(result.message).toContain("gaol token create --user no-account --host-user ACCOUNT");
    const { data } = await api.gql(nobody, "{ machines { edges { node { name } } } }");
    expect(data?.machines.edges.map((e: { node: { name: string } }) => e.node.name)).not.toContain("lab-nobody");
  });

  it("shows the host-side limits its cgroup will hold it to", async () => {
    const carol = await api.login("carol-limits");
    const result = await provision(carol, { name: "lab-limits", memoryMiB: 1024 });
    const { data } = await api.gql(
      carol,
      "query ($id: ID!) { machine(id: $id) { limits { memoryMiB processes cpuWeight cpuPercent } } }",
      { id: result.machine.id },
    );
    // 1024 MiB of guest, an eighth for its page tables and 64 MiB for the kernel itself.
    expect(data?.machine.limits).toEqual({ memoryMiB: 1216, processes: 1024, cpuWeight: 100, cpuPercent: null });

    // Asked for: fewer processes, a smaller share and a cap; beyond the bounds, each one named.
    const asked = await provision(carol, {
      name: "lab-asked",
      limits: { processes: 64, cpuWeight: 50, cpuPercent: 25 },
    });
    const shown = await api.gql(
      carol,
      "query ($id: ID!) { machine(id: $id) { limits { processes cpuWeight cpuPercent } } }",
      {
        id: asked.machine.id,
      },
    );
    expect(shown.data?.machine.limits).toEqual({ processes: 64, cpuWeight: 50, cpuPercent: 25 });
    const refused = await provision(carol, {
      name: "lab-greedy",
      limits: { processes: 100000, cpuWeight: 1000, cpuPercent: 0 },
    });
    expect(refused.__typename).toBe("ValidationError");
    expect(refused.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      "limits.cpuPercent",
      "limits.cpuWeight",
      "limits.processes",
    ]);
  });

  it("generates a name when none is given", async () => {
    const result = await provision(ann, {});
    expect(result.machine.name).toMatch(/^[a-z]+-[a-z]+-[0-9a-f]{4}$/);
  });

  it("names every bad field in a ValidationError", async () => {
    const result = await provision(ann, { name: "Not OK", memoryMiB: 1, sshPublicKeys: ["nonsense"] });
    expect(result.__typename).toBe("ValidationError");
    expect(result.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      "memoryMiB",
      "name",
      "sshPublicKeys.0",
    ]);
  });

  it("takes only names that are DNS labels: they become hostnames and CLI arguments", async () => {
    for (const name of ["-rf", "-", "a-", "--help", "a_b", "x".repeat(33), ""]) {
      const result = await provision(bob, { name });
      expect(result, name).toMatchObject({ __typename: "ValidationError", fields: [{ field: "name" }] });
    }
    for (const name of ["0", "a", "lab-1", "x".repeat(32)]) {
      expect((await provision(bob, { name, memoryMiB: 64 })).__typename, name).toBe("ProvisionMachinePayload");
    }
  });

  it("refuses an unknown image, a taken name, and quotas, each with its own type", async () => {
    expect((await provision(ann, { image: "plan9" })).__typename).toBe("ImageNotFoundError");
    expect((await provision(ann, { name: "lab-1" })).__typename).toBe("NameTakenError");
    const memory = await provision(ann, { memoryMiB: 4096 });
    expect(memory).toMatchObject({ __typename: "QuotaExceededError", quota: "memoryMiB", limit: 4096 });
    for (let i = 0; i < 3; i++) await provision(ann, { memoryMiB: 64 });
    const count = await provision(ann, { memoryMiB: 64 });
    expect(count).toMatchObject({ __typename: "QuotaExceededError", quota: "machines", limit: 5, requested: 6 });
  });

  it("says NoCapacityError when no live host has room", async () => {
    const result = await provision(bob, { memoryMiB: 16_384 });
    expect(result.__typename).toBe("QuotaExceededError");
    const big = await api.login("big", "USER");
    await api.database.db.execute("update users set max_memory_mib = 1000000 where name = 'big'" as never);
    expect((await provision(big, { memoryMiB: 16_384 })).__typename).toBe("ProvisionMachinePayload");
    const full = await provision(big, { memoryMiB: 16_384 });
    expect(full.__typename === "NoCapacityError" || full.__typename === "ProvisionMachinePayload").toBe(true);
  });

  it("gives the last free slot to exactly one of two racing requests", async () => {
    const tight = await api.login("tight-host", "AGENT", { hostMemoryMiB: 0, hostMaxMachines: 0 });
    void tight;
    const carol = await api.login("carol");
    const dave = await api.login("dave");
    // Fill host-a up to one free slot of 256 MiB by asking for what remains, then race two for it.
    const { data } = await api.gql(admin, "{ hosts { name memoryMiB usedMemoryMiB maxMachines machineCount } }");
    const hostA = data?.hosts.find((h: { name: string }) => h.name === "host-a");
    await api.database.db.execute(
      `update hosts set max_machines = ${hostA.machineCount + 1} where name = 'host-a'` as never,
    );
    const results = await Promise.all([provision(carol, { memoryMiB: 64 }), provision(dave, { memoryMiB: 64 })]);
    expect(results.map((r) => r.__typename).sort()).toEqual(["NoCapacityError", "ProvisionMachinePayload"]);
  });
});

describe("authorization", () => {
  let annMachine: string;
  let bobMachine: string;

  beforeAll(async () => {
    await api.database.db.execute("update hosts set max_machines = 1000" as never);
    await api.database.db.execute("update users set max_machines = 100, max_memory_mib = 100000" as never);
    annMachine = (await provision(ann, { name: "ann-private" })).machine.id;
    bobMachine = (await provision(bob, { name: "bob-private" })).machine.id;
  });

  it("refuses every operation without a token or with a wrong one", async () => {
    for (const token of [undefined, "gaol_wrong"]) {
      for (const query of [
        "{ viewer { name } }",
        "{ machines { edges { node { id } } } }",
        "{ images { name } }",
        `{ machine(id: "${annMachine}") { id } }`,
        `mutation { provisionMachine(input: {}) { __typename } }`,
        `mutation { destroyMachine(id: "${annMachine}") { __typename } }`,
      ]) {
        const { data, errors } = await api.gql(token, query);
        expect(errors?.[0]?.message, query).toMatch(/Not authorized/);
        expect(JSON.stringify(data ?? null)).not.toContain("ann-private");
      }
    }
  });

  it("lets a user see, list, destroy or reboot only their own machines, even with a guessed global id", async () => {
    const read = await api.gql(bob, "query ($id: ID!) { machine(id: $id) { name } node(id: $id) { id } }", {
      id: annMachine,
    });
    expect(read.data).toEqual({ machine: null, node: null });
    const list = await api.gql(bob, "{ machines(first: 100) { edges { node { name } } } }");
    const names = list.data?.machines.edges.map((e: { node: { name: string } }) => e.node.name);
    expect(names).toContain("bob-private");
    expect(names).not.toContain("ann-private");
    for (const op of ["destroyMachine", "rebootMachine"]) {
      const { data } = await api.gql(bob, `mutation ($id: ID!) { ${op}(id: $id) { __typename } }`, { id: annMachine });
      expect(data?.[op].__typename).toBe("NotFoundError");
    }
    const events = await api.gql(bob, "query ($id: ID!) { node(id: $id) { ... on Machine { events { cursor } } } }", {
      id: annMachine,
    });
    expect(events.data?.node).toBeNull();
  });

  it("keeps users out of admin and agent operations", async () => {
    expect((await api.gql(ann, "{ hosts { name } }")).errors?.[0]?.message).toMatch(/Not authorized/);
    const report = await api.gql(
      ann,
      `mutation ($id: ID!) { reportMachineEvents(events: [{ machineId: $id, agentSeq: 1, kind: "ConsoleOutput", payload: { text: "x" } }]) { stored } }`,
      { id: annMachine },
    );
    expect(report.errors?.[0]?.message).toMatch(/Not authorized/);
    const token = await api.gql(ann, 'mutation { createToken(input: { user: "eve", role: ADMIN }) { __typename } }');
    expect(token.errors?.[0]?.message).toMatch(/Not authorized/);
  });

  it("lets an agent reach only its own host's machines, and never provision", async () => {
    const own = await api.gql(agent, "{ machines(first: 500) { edges { node { name owner { name } } } } }");
    expect(own.data?.machines.edges.length).toBeGreaterThan(0);
    const other = await api.gql(otherAgent, "{ machines(first: 500) { edges { node { name } } } }");
    expect(other.data?.machines.edges).toEqual([]);
    for (const id of [annMachine, bobMachine]) {
      const read = await api.gql(otherAgent, "query ($id: ID!) { machine(id: $id) { name } }", { id });
      expect(read.data?.machine).toBeNull();
    }
    const report = await api.gql(
      otherAgent,
      `mutation ($id: ID!) { reportMachineEvents(events: [{ machineId: $id, agentSeq: 1, kind: "ConsoleOutput", payload: { text: "from another host" } }]) { stored } }`,
      { id: annMachine },
    );
    expect(report.errors?.[0]?.message).toMatch(/not found/);
    // Refused on the row the append locked: nothing of it was stored.
    const events = await api.gql(
      admin,
      "query ($id: ID!) { machine(id: $id) { events { ... on ConsoleOutput { text } } } }",
      {
        id: annMachine,
      },
    );
    expect(events.data?.machine.events.map((e: { text?: string }) => e.text)).not.toContain("from another host");
    const unknown = Buffer.from("Machine:00000000-0000-4000-8000-000000000000").toString("base64");
    for (const id of [unknown, Buffer.from("Machine:not-a-uuid").toString("base64")]) {
      const nowhere = await api.gql(
        agent,
        `mutation ($id: ID!) { reportMachineEvents(events: [{ machineId: $id, agentSeq: 1, kind: "ConsoleOutput", payload: { text: "x" } }]) { stored } }`,
        { id },
      );
      expect(nowhere.errors?.[0]?.message).toMatch(/not found/);
    }
    expect((await api.gql(agent, "mutation { provisionMachine(input: {}) { __typename } }")).errors).toBeDefined();
  });

  it("lets an admin see every machine and host, and create tokens", async () => {
    const all = await api.gql(admin, "{ machines(first: 500) { edges { node { name } } } hosts { name } }");
    const names = all.data?.machines.edges.map((e: { node: { name: string } }) => e.node.name);
    expect(names).toEqual(expect.arrayContaining(["ann-private", "bob-private"]));
    expect(all.data?.hosts.map((h: { name: string }) => h.name)).toContain("host-a");
    const created = await api.gql(
      admin,
      'mutation { createToken(input: { user: "erin", hostUser: "erin" }) { ... on CreateTokenPayload { token user { name role } } } }',
    );
    const token = created.data?.createToken.token;
    expect(token).toMatch(/^gaol_/);
    expect((await api.gql(token, "{ viewer { name role } }")).data?.viewer).toEqual({ name: "erin", role: "USER" });
  });
});

describe("destroyMachine", () => {
  it("is idempotent and frees the name", async () => {
    const id = (await provision(bob, { name: "short-lived" })).machine.id;
    const destroy =
      "mutation ($id: ID!) { destroyMachine(id: $id) { ... on DestroyMachinePayload { machine { state } } } }";
    // No agent has taken it yet (PENDING), so nothing exists on a host: destroyed at once.
    expect((await api.gql(bob, destroy, { id })).data?.destroyMachine.machine.state).toBe("DESTROYED");
    expect((await api.gql(bob, destroy, { id })).data?.destroyMachine.machine.state).toBe("DESTROYED");
    const again = await provision(bob, { name: "short-lived" });
    expect(again.__typename).toBe("ProvisionMachinePayload");
    const names = async (live: boolean) =>
      (
        await api.gql(bob, "query ($live: Boolean) { machines(first: 100, live: $live) { edges { node { id } } } }", {
          live,
        })
      ).data?.machines.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(await names(false)).toContain(id);
    expect(await names(true)).not.toContain(id);
    expect(await names(true)).toContain(again.machine.id);
  });
});

describe("addMachineSshKeys", () => {
  const ADD = `mutation ($id: ID!, $keys: [String!]!) {
    addMachineSshKeys(id: $id, sshPublicKeys: $keys) {
      __typename
      ... on AddMachineSshKeysPayload { machine { sshPublicKeys } }
      ... on ValidationError { fields { field } }
      ... on InvalidStateError { state }
    }
  }`;
  const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@lab";
  const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvTl2ZqYAUZa0CHRYbWtBvPT7J4nZtR3nE3ROfbqCSv b@lab";

  it("adds keys once each, for the owner only, and not to a destroyed machine", async () => {
    const id = (await provision(ann, { name: "keyed", sshPublicKeys: [KEY_A] })).machine.id;
    const added = (await api.gql(ann, ADD, { id, keys: [KEY_B, KEY_A] })).data?.addMachineSshKeys;
    expect(added).toEqual({ __typename: "AddMachineSshKeysPayload", machine: { sshPublicKeys: [KEY_A, KEY_B] } });
    const bad = (await api.gql(ann, ADD, { id, keys: [KEY_B, "not a key"] })).data?.addMachineSshKeys;
    expect(bad).toEqual({ __typename: "ValidationError", fields: [{ field: "sshPublicKeys.1" }] });
    expect((await api.gql(ann, ADD, { id, keys: [] })).data?.addMachineSshKeys.__typename).toBe("ValidationError");
    // Another user's attempt finds no such machine; an admin may.
    expect((await api.gql(bob, ADD, { id, keys: [KEY_B] })).data?.addMachineSshKeys.__typename).toBe("NotFoundError");
    expect((await api.gql(admin, ADD, { id, keys: [KEY_B] })).data?.addMachineSshKeys.__typename).toBe(
      "AddMachineSshKeysPayload",
    );
    await api.gql(ann, "mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }", { id });
    expect((await api.gql(ann, ADD, { id, keys: [KEY_B] })).data?.addMachineSshKeys).toEqual({
      __typename: "InvalidStateError",
      state: "DESTROYED",
    });
  });
});

describe("every typed error, and quotas under concurrency", () => {
  it("never over-allocates when one user sends 20 provisions at once", async () => {
    const racer = await api.login("racer");
    await api.database.db.execute("update hosts set max_machines = 1000, memory_mib = 1000000" as never);
    const results = await Promise.all(Array.from({ length: 20 }, () => provision(racer, { memoryMiB: 64 })));
    const kinds = results.map((r) => r.__typename);
    expect(kinds.filter((k) => k === "ProvisionMachinePayload")).toHaveLength(5);
    expect(kinds.filter((k) => k === "QuotaExceededError")).toHaveLength(15);
    const { data } = await api.gql(racer, "{ machines(first: 100) { edges { node { id } } } }");
    expect(data?.machines.edges).toHaveLength(5);
  });

  it("refuses to reboot a machine that is not running (InvalidStateError)", async () => {
    const id = (await provision(bob, { name: "not-yet" })).machine.id;
    const { data } = await api.gql(
      bob,
      "mutation ($id: ID!) { rebootMachine(id: $id) { __typename ... on InvalidStateError { state message } } }",
      { id },
    );
    expect(data?.rebootMachine).toMatchObject({ __typename: "InvalidStateError", state: "PENDING" });
  });

  it("validates createToken's input (ValidationError)", async () => {
    const { data } = await api.gql(
      admin,
      'mutation { createToken(input: { user: "Bad Name", hostUser: "-x" }) { __typename ... on ValidationError { fields { field } } } }',
    );
    expect(data?.createToken.__typename).toBe("ValidationError");
    expect(data?.createToken.fields.map((f: { field: string }) => f.field).sort()).toEqual(["hostUser", "user"]);
  });

  it("says NotFoundError for a destroy of a machine that does not exist", async () => {
    const ghost = Buffer.from("Machine:00000000-0000-0000-0000-000000000000").toString("base64");
    const { data } = await api.gql(ann, "mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }", {
      id: ghost,
    });
    expect(data?.destroyMachine.__typename).toBe("NotFoundError");
  });
});
