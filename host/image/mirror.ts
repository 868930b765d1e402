import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
}

/** Parses one-line (`deb URI suite comp…`) and deb822 (`URIs:`/`Suites:`) apt sources. */
export function parseAptSources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  const stanzas = text.split(/\n\s*\n/);
  for (const stanza of stanzas) {
    const fields = new Map<string, string>();
    for (const line of stanza.split("\n")) {
      const trimmed = line.trim();
      if (!trimmed || trimmed.startsWith("#")) continue;
      const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(trimmed);
      if (oneLine) {
        const [, uri, suite, components] = oneLine as unknown as [string, string, string, string];
        sources.push({ uri, suites: [suite], components: components.split(/\s+/).filter(Boolean) });
        continue;
      }
      const field = /^([A-Za-z-]+):\s*(.*)$/.exec(trimmed);
      if (field) fields.set((field[1] as string).toLowerCase(), field[2] as string);
    }
    const types = fields.get("types")?.split(/\s+/) ?? [];
    if (types.includes("deb") && fields.has("uris")) {
      const words = (key: string) => (fields.get(key) ?? "").split(/\s+/).filter(Boolean);
      for (const uri of words("uris")) {
        sources.push({ uri, suites: words("suites"), components: words("components") });
      }
    }
  }
  return sources;
}

/** The host's Debian archive mirror for suite: never the security or updates archive. */
export function pickDebianMirror(sources: AptSource[], suite: string): string | undefined {
  return sources.find((s) => s.suites.includes(suite) && s.components.includes("main") && !/security/.test(s.uri))?.uri;
}

export async function hostAptSources(dir = "/etc/apt"): Promise<AptSource[]> {
  const texts: string[] = [];
  texts.push(await readFile(join(dir, "sources.list"), "utf8").catch(() => ""));
  const parts = await readdir(join(dir, "sources.list.d")).catch(() => [] as string[]);
  for (const name of parts.sort()) {
    if (name.endsWith(".list") || name.endsWith(".sources")) {
      texts.push(await readFile(join(dir, "sources.list.d", name), "utf8"));
    }
  }
  return texts.flatMap(parseAptSources);
}

export async function hostCodename(osRelease = "/etc/os-release"): Promise<string> {
  const text = await readFile(osRelease, "utf8");
  return /^VERSION_CODENAME=(\S+)$/m.exec(text)?.[1] ?? "bookworm";
}
