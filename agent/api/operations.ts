/** The GraphQL the agent speaks: it is a client of the api like any other. */

export const MACHINE_FIELDS = `
  id name state desiredState rebootGeneration memoryMiB sshPublicKeys ipAddress
  owner { name hostUser }
  image { name }
  imageVersion
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
  imageVersion: number | null;
}

export const HOST_MACHINES = `query HostMachines($after: String) {
  machines(first: 500, after: $after, live: true) {
    edges { node { ${MACHINE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const MACHINE_CHANGES = `subscription MachineChanges { machines { ${MACHINE_FIELDS} } }`;

export const HEARTBEAT = `mutation Heartbeat($memoryMiB: Int!, $maxMachines: Int!, $images: [HostImageInput!]) {
  hostHeartbeat(memoryMiB: $memoryMiB, maxMachines: $maxMachines, images: $images) { id name }
}`;

export interface PendingSync {
  id: string;
  image: string;
  source: string;
  version: number;
}

export const PENDING_SYNCS = `query PendingSyncs { pendingImageSyncs { id image source version } }`;

export const REPORT_SYNC = `mutation ReportSync($report: ImageSyncReport!) { reportImageSync(report: $report) }`;

export const REPORT_EVENTS = `mutation Report($events: [MachineEventInput!]!) {
  reportMachineEvents(events: $events) { stored duplicates }
}`;
