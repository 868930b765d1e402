/** The GraphQL the agent speaks: it is a client of the api like any other. */

export const MACHINE_FIELDS = `
  id name state desiredState rebootGeneration memoryMiB sshPublicKeys ipAddress
  owner { name hostUser }
  image { name }
`;

export interface ApiMachine {
  id: string;
  name: string;
  state: string;
  desiredState: "RUNNING" | "DESTROYED";
  rebootGeneration: number;
  memoryMiB: number;
  sshPublicKeys: string[];
  ipAddress: string | null;
  owner: { name: string; hostUser: string | null };
  image: { name: string };
}

export const HOST_MACHINES = `query HostMachines($after: String) {
  machines(first: 500, after: $after) {
    edges { node { ${MACHINE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const MACHINE_CHANGES = `subscription MachineChanges { machines { ${MACHINE_FIELDS} } }`;

export const HEARTBEAT = `mutation Heartbeat($memoryMiB: Int!, $maxMachines: Int!) {
  hostHeartbeat(memoryMiB: $memoryMiB, maxMachines: $maxMachines) { id name }
}`;

export const REPORT_EVENTS = `mutation Report($events: [MachineEventInput!]!) {
  reportMachineEvents(events: $events) { stored duplicates }
}`;
