import { readFileSync } from "node:fs";
import { buildSchema, type DocumentNode, Kind, parse, validate } from "graphql";
import { describe, expect, it } from "vitest";
import { QUERY_LIMITS, queryLimitRules } from "../../api/limits.js";

const schema = buildSchema(readFileSync("schema/schema.graphql", "utf8"));

/** Each operation of a .graphql file, as a document of its own with the file's fragments. */
function operationsOf(file: string): Array<[string, DocumentNode]> {
  const { definitions } = parse(readFileSync(file, "utf8"));
  const fragments = definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  return definitions.flatMap((d) =>
    d.kind === Kind.OPERATION_DEFINITION
      ? [
          [`${file} ${d.name?.value}`, { kind: Kind.DOCUMENT, definitions: [d, ...fragments] }] as [
            string,
            DocumentNode,
          ],
        ]
      : [],
  );
}

describe("the query limits", () => {
  it("let through every operation the SDK and the agent send, the agent's 500-machine page too", () => {
    const operations = [
      ...operationsOf("clients/sdk/operations.graphql"),
      ...operationsOf("agent/api/operations.graphql"),
    ];
    expect(operations.length).toBeGreaterThan(10);
    for (const [name, document] of operations) {
      expect({ name, errors: validate(schema, document, queryLimitRules()).map((e) => e.message) }).toEqual({
        name,
        errors: [],
      });
    }
  });

  it("are set by what the agent needs: a tenth of the cost limit would refuse its page of 500 machines", () => {
    const agent = operationsOf("agent/api/operations.graphql");
    const refused = agent.filter(
      ([, document]) =>
        validate(schema, document, queryLimitRules({ ...QUERY_LIMITS, cost: QUERY_LIMITS.cost / 10 })).length > 0,
    );
    expect(refused.map(([name]) => name)).toEqual(["agent/api/operations.graphql HostMachines"]);
  });
});
