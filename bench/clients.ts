/*
 * HTTP load: GraphQL POSTs over keep-alive connections (node:http with a
 * keep-alive agent: one socket per worker, less client CPU than fetch on a
 * 2-core machine shared with the gateway and PostgreSQL), a fixed number of
 * concurrent workers, per-request latency from process.hrtime.bigint().
 */
import http from 'node:http';

export interface GqlResult<T = Record<string, any>> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export class GqlClient {
  readonly agent: http.Agent;
  readonly #url: URL;

  constructor(url: string, sockets = 64) {
    this.#url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  /** One POST; resolves with the parsed body (GraphQL errors included, not thrown). */
  request<T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlResult<T>> {
    const body = JSON.stringify({ query, variables });
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          path: this.#url.pathname,
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json, application/json',
            'content-length': Buffer.byteLength(body),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve(JSON.parse(text) as GqlResult<T>);
            } catch {
              reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Like request, but throws on GraphQL errors and returns data. */
  async ok<T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
    const result = await this.request<T>(query, variables, token);
    if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors).slice(0, 800)}`);
    return result.data as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoadResult<R> {
  results: R[];
  /** Per-item latency in microseconds, in item order. */
  latenciesUs: Float64Array;
  /** Wall time of the whole run. */
  seconds: number;
  startedAt: bigint;
  endedAt: bigint;
  errors: { index: number; error: string }[];
}

/**
 * Runs `work` for every item with `concurrency` workers pulling the next item
 * as soon as they are free. Latency is measured around each call.
 */
export async function runLoad<I, R>(
  items: readonly I[],
  concurrency: number,
  work: (item: I, index: number) => Promise<R>,
): Promise<LoadResult<R | undefined>> {
  const results: (R | undefined)[] = new Array(items.length);
  const latenciesUs = new Float64Array(items.length);
  const errors: { index: number; error: string }[] = [];
  let next = 0;
  const startedAt = process.hrtime.bigint();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      const t0 = process.hrtime.bigint();
      try {
        results[i] = await work(items[i]!, i);
      } catch (error) {
        errors.push({ index: i, error: error instanceof Error ? error.message : String(error) });
      }
      latenciesUs[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const endedAt = process.hrtime.bigint();
  return { results, latenciesUs, seconds: Number(endedAt - startedAt) / 1e9, startedAt, endedAt, errors };
}

export const START_SESSION = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted denial { code } session { id seatKind } } }`;
export const END_SESSION = `mutation($input: EndSessionInput!) { endSession(input: $input) { session { id endedAt } } }`;

export interface StartOutcome {
  granted: boolean;
  denial: string | null;
  sessionId: string | null;
  seatKind: string | null;
}

/** startSession for one user; GraphQL errors become exceptions (counted as errors by runLoad). */
export async function startSession(client: GqlClient, token: string, userId: string): Promise<StartOutcome> {
  const data = await client.ok<{
    startSession: { granted: boolean; denial: { code: string } | null; session: { id: string; seatKind: string } | null };
  }>(START_SESSION, { input: { userId } }, token);
  const s = data.startSession;
  return { granted: s.granted, denial: s.denial?.code ?? null, sessionId: s.session?.id ?? null, seatKind: s.session?.seatKind ?? null };
}
