import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

/** A generated operation (agent/api/generated.ts): its text, with the result and variable types attached. */
export type Operation<Result, Variables> = DocumentTypeDecoration<Result, Variables> & { toString(): string };

/**
 * One graphql-ws connection to the api for queries, mutations and
 * subscriptions, reconnecting with backoff for as long as the agent runs.
 */
export class ApiClient {
  readonly ws: Client;
  private connectedListeners = new Set<() => void>();

  constructor(url: string, token: string) {
    this.ws = createClient({
      url: url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: async (retries) => {
        await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** retries, 5000) * (0.5 + Math.random() / 2)));
      },
      keepAlive: 10_000,
      lazy: false,
      on: {
        connected: () => {
          for (const listener of this.connectedListeners) listener();
        },
      },
    });
  }

  /** Runs fn on every (re)connection: the agent resyncs then. */
  onConnected(listener: () => void): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  /** One query or mutation; rejects with the GraphQL errors' messages. */
  async request<Result, Variables extends Record<string, unknown>>(
    operation: Operation<Result, Variables>,
    variables?: Variables,
  ): Promise<Result> {
    const iterator = this.ws.iterate<Result>({ query: operation.toString(), variables });
    try {
      for await (const result of iterator) {
        if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join("; "));
        if (!result.data) throw new Error("the api answered without data");
        return result.data;
      }
    } catch (error) {
      if (Array.isArray(error)) throw new Error(error.map((e: { message?: string }) => e.message).join("; "));
      throw error instanceof Error ? error : new Error(String((error as { reason?: string }).reason ?? error));
    } finally {
      await iterator.return?.();
    }
    throw new Error("the api closed the operation without a result");
  }

  /** A subscription as an async iterator of its data. */
  async *subscribe<Result, Variables extends Record<string, unknown>>(
    operation: Operation<Result, Variables>,
    variables?: Variables,
  ): AsyncGenerator<Result> {
    for await (const result of this.ws.iterate<Result>({ query: operation.toString(), variables })) {
      if (result.data) yield result.data;
    }
  }

  async close(): Promise<void> {
    await this.ws.dispose();
  }
}
