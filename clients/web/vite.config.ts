import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The web page the api serves at `/`: `npm run build:web` writes clients/web/dist.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: { proxy: { "/graphql": { target: "http://127.0.0.1:4000", ws: true } } },
});
