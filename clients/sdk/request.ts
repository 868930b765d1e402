/** Where the api is and who we are: GAOL_API and GAOL_TOKEN, as the CONTRACT names them. */
export interface Endpoint {
  url: string;
  token?: string;
}

export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoint {
  return { url: env.GAOL_API ?? "http://127.0.0.1:4000/graphql", token: env.GAOL_TOKEN || undefined };
}

export class ApiError extends Error {
  override name = "ApiError";
}

/** One GraphQL operation over HTTP; GraphQL errors and unreachable APIs become ApiErrors with a plain message. */
export async function request<T>(endpoint: Endpoint, query: string, variables?: Record<string, unknown>): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
  let response: Response;
  try {
    response = await fetch(endpoint.url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new ApiError(
      `cannot reach the gaol api at ${endpoint.url}: ${(error as Error).cause ?? (error as Error).message}`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as { data?: T; errors?: Array<{ message: string }> };
  if (body.errors?.length) {
    const message = body.errors.map((e) => e.message).join("; ");
    throw new ApiError(/Not authorized/.test(message) && !endpoint.token ? `${message} (set GAOL_TOKEN)` : message);
  }
  if (!response.ok || !body.data) throw new ApiError(`the api answered HTTP ${response.status}`);
  return body.data;
}
