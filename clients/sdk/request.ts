import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";

/** Where the api is and who we are. Works in Node and in browsers; `webSocket` is needed only where there is no global WebSocket (Node 20). */
export interface Endpoint {
  url: string;
  token?: string;
  webSocket?: unknown;
}

/** A generated operation: its text, with the result and variable types attached. */
export type Operation<Result, Variables> = DocumentTypeDecoration<Result, Variables> & { toString(): string };

/** Anything the api said no to: unreachable, unauthorized, a GraphQL error, a typed error result. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    /** The typed error's __typename (ValidationError, NotFoundError, …), when there was one. */
    readonly type?: string,
    readonly fields?: ReadonlyArray<{ field: string; message: string }>,
    /** A RateLimitedError's wait before the token's next change is accepted. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** One GraphQL operation over HTTP; GraphQL errors and unreachable APIs become ApiErrors with a plain message. */
export async function request<Result, Variables>(
  endpoint: Endpoint,
  operation: Operation<Result, Variables>,
  variables?: Variables,
): Promise<Result> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
  let response: Response;
  try {
    response = await fetch(endpoint.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: operation.toString(), variables }),
    });
  } catch (error) {
    const cause = (error as Error).cause as { message?: string } | undefined;
    throw new ApiError(`cannot reach the gaol api at ${endpoint.url}: ${cause?.message ?? (error as Error).message}`);
  }
  const body = (await response.json().catch(() => ({}))) as { data?: Result; errors?: Array<{ message: string }> };
  if (body.errors?.length) {
    const message = body.errors.map((e) => e.message).join("; ");
    throw new ApiError(message);
  }
  if (response.status === 404)
    throw new ApiError(
      `${endpoint.url} is not a gaol api (HTTP 404): GAOL_API is the api's /graphql, e.g. http://host:4000/graphql`,
    );
  if (!response.ok || !body.data) throw new ApiError(`the api at ${endpoint.url} answered HTTP ${response.status}`);
  return body.data;
}

/** A mutation's union result: the payload, or its typed error thrown as an ApiError. */
export function payloadOf<T extends { __typename: string }, K extends T["__typename"]>(
  result: T,
  type: K,
): Extract<T, { __typename: K }> {
  if (result.__typename === type) return result as Extract<T, { __typename: K }>;
  const error = result as {
    __typename: string;
    message?: string;
    fields?: Array<{ field: string; message: string }>;
    retryAfterSeconds?: number;
  };
  // The message is for people; programs read the type.
  throw new ApiError(error.message ?? error.__typename, error.__typename, error.fields, error.retryAfterSeconds);
}
