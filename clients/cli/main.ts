import { parseArgs } from "node:util";
import { hostConfigFromEnv } from "../../agents/config.js";
import { GaolError } from "../../agents/errors.js";
import { ensureHost } from "../../agents/setup/index.js";
import { createTokenCommand } from "./token.js";
import { tryCommand } from "./try.js";

const log = (line: string) => console.error(`gaol: ${line}`);

const USAGE = `usage:
  gaol serve [--port 4000]            the api (GraphQL, GraphiQL) on the embedded database
  gaol token create --user NAME [--role ADMIN|USER|AGENT] [--host-user ACCOUNT]
                                      a new token, printed once (uses GAOL_TOKEN, or the server's admin token)
  gaol setup                          install and prepare everything this host needs
  gaol try [--owner USER] [--name N]  boot a machine on a private LAN; Ctrl-C destroys it`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "setup": {
      const version = await ensureHost(hostConfigFromEnv(), log);
      log(`host ready; default image ${version.image} version ${version.version} at ${version.file}`);
      return 0;
    }
    case "try": {
      const { values } = parseArgs({ args: rest, options: { owner: { type: "string" }, name: { type: "string" } } });
      await tryCommand(values, log);
      return 0;
    }
    case "token": {
      const [sub, ...flags] = rest;
      const { values } = parseArgs({
        args: flags,
        options: { user: { type: "string" }, role: { type: "string" }, "host-user": { type: "string" } },
      });
      if (sub !== "create") throw new Error("usage: gaol token create --user NAME");
      await createTokenCommand(values);
      return 0;
    }
    default:
      console.error(USAGE);
      return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    log(error instanceof GaolError || error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
