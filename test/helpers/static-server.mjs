// Serves a directory over HTTP: the test LAN's apt repository. Usage: node static-server.mjs DIR PORT
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

const [dir, port] = process.argv.slice(2);
createServer((req, res) => {
  const path = join(dir, normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)));
  try {
    if (!path.startsWith(dir) || !statSync(path).isFile()) throw new Error("not a file");
    res.writeHead(200, { "content-length": statSync(path).size });
    createReadStream(path).pipe(res);
  } catch {
    res.writeHead(404).end();
  }
}).listen(Number(port), "0.0.0.0", () => console.log(`serving ${dir} on ${port}`));
