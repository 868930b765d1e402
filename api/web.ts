import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const DIST = fileURLToPath(new URL("../clients/web/dist/", import.meta.url));
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

const NOT_BUILT = `<!doctype html><title>gaol</title><h1>gaol</h1>
<p>The web page is not built yet: run <code>npm run build:web</code> (<code>gaol serve</code> does it for you).</p>
<p><a href="/graphql">GraphiQL</a> works without it.</p>`;

/** The web page (clients/web/dist) on GET `/` and `/assets/…`; false when the path is not the page's. */
export async function serveWeb(req: IncomingMessage, res: ServerResponse, dist = DIST): Promise<boolean> {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const path = new URL(req.url ?? "/", "http://gaol").pathname;
  const file = path === "/" || path === "/index.html" ? "index.html" : path.startsWith("/assets/") ? path.slice(1) : "";
  if (!file) return false;
  const full = normalize(join(dist, file));
  if (!full.startsWith(dist)) return false;
  try {
    const body = await readFile(full);
    // Asset names carry a content hash: cache them for good; index.html never.
    const cache = file === "index.html" ? "no-cache" : "public, max-age=31536000, immutable";
    res.writeHead(200, { "content-type": TYPES[extname(full)] ?? "application/octet-stream", "cache-control": cache });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch {
    if (file !== "index.html") return false;
    res.writeHead(200, { "content-type": TYPES[".html"] });
    res.end(NOT_BUILT);
  }
  return true;
}
