import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { GraphQLError, type ValidationContext, type ValidationRule } from "graphql";
import type { Plugin, YogaInitialContext } from "graphql-yoga";

/** What one document may ask for. */
export interface QueryLimits {
  depth: number;
  /** Aliases let one small document run a field many times over. */
  aliases: number;
  /** Lexical tokens: the parser stops here, before a huge document costs anything more. */
  tokens: number;
  /**
   * GraphQL Armor's estimate: a field costs 1, an object 2, each level down 1.5 times more, and
   * a literal `first: N` N times. The agent's page of 500 machines costs about 41,000 and a
   * machine's 5,000 events about 53,000; a page of pages is refused.
   */
  cost: number;
}

export const QUERY_LIMITS: QueryLimits = { depth: 15, aliases: 15, tokens: 5000, cost: 100_000 };

/** Armor says "Syntax Error: … limit of N exceeded, found M.5."; this says it plainly, and what to do. */
function reworded(error: GraphQLError, advice: string): GraphQLError {
  const said = error.message
    .replace(/^Syntax Error: /, "")
    .replace(/(found \d+)\.\d+/, "$1")
    .replace(/\.$/, "");
  return new GraphQLError(`${said}: ${advice}`);
}

/**
 * Reports a refused document as a validation error rather than throwing, as graphql-js's own
 * rules do, so graphql-ws answers it as an error instead of closing the socket.
 */
const report = (advice: string) => ({
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(reworded(error, advice))],
});

/**
 * The limits on a parsed document, from GraphQL Armor. Fragments count as what they select, so
 * a document means the same whether it spreads fragments or not. Introspection (GraphiQL's) is exempt.
 */
export function queryLimitRules(limits: QueryLimits = QUERY_LIMITS): ValidationRule[] {
  const rules = [
    maxDepthRule({ n: limits.depth, flattenFragments: true, ...report("nest fewer levels of fields") }),
    maxAliasesRule({ n: limits.aliases, ...report("ask for fewer aliased fields in one document") }),
    costLimitRule({
      maxCost: limits.cost,
      flattenFragments: true,
      ...report("select fewer fields, or ask for smaller pages (first)"),
    }),
  ];
  return rules as ValidationRule[];
}

/** The query limits as yoga plugins: the parser's token limit, then the rules above. */
export function queryLimitsPlugins(limits: QueryLimits = QUERY_LIMITS): Plugin[] {
  const tokens = maxTokensPlugin<YogaInitialContext>({
    n: limits.tokens,
    onReject: [
      (_context, error) => {
        throw reworded(error, "send a smaller document");
      },
    ],
  });
  const rules = queryLimitRules(limits);
  return [tokens, { onValidate: ({ addValidationRule }) => rules.forEach(addValidationRule) }];
}
