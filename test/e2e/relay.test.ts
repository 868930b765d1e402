import { once } from "node:events";
import { afterAll, describe, expect, it } from "vitest";
import { launch, run } from "../../host/exec/run.js";
import { connectTo } from "../../host/ready/probe.js";
import { killProcessGroup } from "../../host/uml/process.js";

// The probe's relay into a network namespace. Names unique to this file.
const NS = "gaol-t-relay";
const servers: number[] = [];

/** A namespace of NS's name whose loopback answers `greeting` on port 2222. */
async function namespaceGreeting(greeting: string): Promise<void> {
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
  await run("ip", ["netns", "add", NS]);
  await run("ip", ["link", "set", "lo", "up"], { netns: NS });
  // (A client that hangs up at once, as the readiness check below does, must not end the server.)
  const script = `require("net").createServer((s) => s.on("error", () => {}).end(process.argv[1])).listen(2222, "127.0.0.1")`;
  const server = launch(process.execPath, ["-e", script, greeting], { netns: NS, outputFd: 1 });
  servers.push(server.pid);
  for (let i = 0; i < 100 && !(await answers()); i++) await new Promise((r) => setTimeout(r, 50));
}

async function answers(): Promise<boolean> {
  return run("bash", ["-c", 'exec 3<>"/dev/tcp/127.0.0.1/2222"'], { netns: NS }).then(
    () => true,
    () => false,
  );
}

async function read(ip: string): Promise<string> {
  const stream = await connectTo(ip, 2222, NS);
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  await once(stream, "close");
  return Buffer.concat(chunks).toString();
}

afterAll(async () => {
  for (const pid of servers) await killProcessGroup(pid).catch(() => undefined);
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
});

describe("the probe's relay into a network namespace", () => {
  it("connects from inside the namespace, and follows it when the namespace is made again", async () => {
    await namespaceGreeting("first");
    expect(await read("127.0.0.1")).toBe("first");
    expect(await read("127.0.0.1")).toBe("first");
    await namespaceGreeting("second");
    expect(await read("127.0.0.1")).toBe("second");
  });

  it("closes the stream when nothing listens there", async () => {
    const stream = await connectTo("127.0.0.1", 2223, NS);
    await once(stream, "close");
  });
});
