// Runs inside a network namespace (ip netns exec) for an agent outside it: each connection on the
// unix socket names "ip port" on its first line and is joined to a TCP connection made from here.
// Plain JavaScript: it runs under node alone. It ends when its parent closes its stdin.
import { rmSync } from "node:fs";
import { connect, createServer } from "node:net";

const [path] = process.argv.slice(2);
const server = createServer((client) => {
  let head = Buffer.alloc(0);
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const newline = head.indexOf(10);
    if (newline < 0) {
      if (head.length > 100) client.destroy();
      return;
    }
    client.off("data", onData);
    client.pause();
    const [host, port] = head.subarray(0, newline).toString().trim().split(" ");
    const rest = head.subarray(newline + 1);
    const upstream = connect({ host, port: Number(port) }, () => {
      if (rest.length) upstream.write(rest);
      client.pipe(upstream).pipe(client);
      client.resume();
    });
    // Either end closing ends the other (pipe ends the client after what upstream sent).
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
  };
  client.on("data", onData);
});
// A socket left by a relay that was killed is taken over.
rmSync(path, { force: true });
server.listen(path, () => process.stdout.write("listening\n"));
process.on("exit", () => rmSync(path, { force: true }));
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
process.stdin.resume();
