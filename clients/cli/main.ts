import { hostConfigFromEnv } from "../../agents/config.js";
import { ensureHost } from "../../agents/setup/index.js";

const log = (line: string) => console.error(`gaol: ${line}`);

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case "setup": {
      const version = await ensureHost(hostConfigFromEnv(), log);
      log(`host ready; default image ${version.image} version ${version.version} at ${version.file}`);
      return 0;
    }
    default:
      console.error("usage: gaol setup");
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
