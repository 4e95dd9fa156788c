import { randomUUID } from 'node:crypto';
import { getOperationAST, type DocumentNode, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { Slot } from '../slot.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A client's request id is kept when it is short and plain; anything else is replaced (no log injection). */
const CLIENT_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestIdFrom(header: string | null | undefined): string {
  return header && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

type Transport = 'http' | 'ws';

interface OperationRecord {
  start: number;
  name: string | null;
  type: string;
  durationMs?: number;
  codes?: string[];
}

interface RequestRecord {
  id: string;
  start: number;
  operations: OperationRecord[];
  /** Codes of a request refused before any operation ran (bad JSON, body too large, batch too big). */
  requestCodes: string[];
}

interface ResultLike {
  errors?: readonly GraphQLError[];
}

/** extensions.code of each error; masked errors carry INTERNAL_SERVER_ERROR, library errors without one count as NONE. */
function codesOf(result: unknown): string[] {
  const results: unknown[] = Array.isArray(result) ? result : [result];
  const codes: string[] = [];
  for (const r of results) {
    const errors = r && typeof r === 'object' && 'errors' in r ? (r as ResultLike).errors : undefined;
    for (const error of errors ?? []) {
      const code = error.extensions?.code;
      codes.push(typeof code === 'string' ? code : 'NONE');
    }
  }
  return codes;
}

function operationOf(document: DocumentNode, operationName: string | null | undefined): { type: string; name: string | null } {
  const operation = getOperationAST(document, operationName ?? undefined);
  return { type: operation?.operation ?? 'unknown', name: operation?.name?.value ?? operationName ?? null };
}

const ms = (from: number) => Math.round((performance.now() - from) * 1000) / 1000;
const clip = (value: string | null) => (value && value.length > 100 ? `${value.slice(0, 100)}…` : value);

/**
 * Structured logs and metrics for every operation: one log line per GraphQL
 * operation (HTTP, batched HTTP and graphql-ws) with the request id, operation
 * name and type, duration, HTTP status and error codes; one line for a request
 * refused before any operation ran. Never headers, tokens, variables or the
 * query text. The request id comes from `x-request-id` when the client sent a
 * plain one, else it is generated, and is returned in the response header.
 */
export function useObservability({ logger, metrics }: { logger: Logger; metrics: Metrics }): Plugin {
  // On the objects themselves, not in WeakMaps (slot.ts).
  const requests = new Slot<Request, RequestRecord>('request record');
  /** On the operation's context object (the same object from onParams to onExecutionResult). */
  const operations = new Slot<object, OperationRecord>('operation record');

  const count = (op: OperationRecord, transport: Transport) => {
    metrics.operations.inc({ type: op.type, transport });
    metrics.operationDuration.observe({ type: op.type, transport }, (op.durationMs ?? 0) / 1000);
    for (const code of op.codes ?? []) metrics.errors.inc({ code });
  };

  /** graphql-ws operations do not pass Yoga's HTTP hooks: they are logged when they finish executing. */
  const logWs = (op: OperationRecord, requestId: string) => {
    count(op, 'ws');
    const masked = op.codes?.includes('INTERNAL_SERVER_ERROR');
    logger[masked ? 'error' : 'info'](
      {
        requestId,
        transport: 'ws',
        operationName: clip(op.name),
        operationType: op.type,
        durationMs: op.durationMs,
        errorCodes: op.codes?.length ? op.codes : undefined,
      },
      'graphql operation',
    );
  };

  return {
    onRequest({ request }) {
      requests.set(request, {
        id: requestIdFrom(request.headers.get(REQUEST_ID_HEADER)),
        start: performance.now(),
        operations: [],
        requestCodes: [],
      });
    },
    onParams({ params, context }) {
      operations.set(context, { start: performance.now(), name: params.operationName ?? null, type: 'unknown' });
    },
    onExecute({ args }) {
      const context = args.contextValue as object;
      const known = operations.get(context);
      const { type, name } = operationOf(args.document, args.operationName);
      if (known) {
        known.type = type;
        known.name = name;
        return undefined;
      }
      const op: OperationRecord = { start: performance.now(), name, type };
      return {
        onExecuteDone({ result }) {
          op.durationMs = ms(op.start);
          op.codes = codesOf(result);
          logWs(op, randomUUID());
        },
      };
    },
    onSubscribe({ args }) {
      const context = args.contextValue as object;
      const known = operations.get(context);
      const { type, name } = operationOf(args.document, args.operationName);
      if (known) {
        known.type = type;
        known.name = name;
        return;
      }
      logWs({ start: performance.now(), name, type, durationMs: 0, codes: [] }, randomUUID());
    },
    onExecutionResult({ result, request, context }) {
      const op = operations.get(context);
      const record = requests.get(request);
      if (!op || !record) return;
      op.durationMs = ms(op.start);
      op.codes = codesOf(result);
      record.operations.push(op);
      count(op, 'http');
    },
    onResultProcess({ request, result }) {
      const record = requests.get(request);
      if (record && record.operations.length === 0) record.requestCodes = codesOf(result);
    },
    onResponse({ request, response }) {
      const record = requests.get(request);
      if (!record) return;
      response.headers.set(REQUEST_ID_HEADER, record.id);
      const status = response.status;
      metrics.httpRequests.inc({ method: request.method, status: String(status) });
      for (const op of record.operations) {
        const masked = status >= 500 || op.codes?.includes('INTERNAL_SERVER_ERROR');
        logger[masked ? 'error' : 'info'](
          {
            requestId: record.id,
            transport: 'http',
            method: request.method,
            status,
            operationName: clip(op.name),
            operationType: op.type,
            durationMs: op.durationMs,
            errorCodes: op.codes?.length ? op.codes : undefined,
            batch: record.operations.length > 1 ? record.operations.length : undefined,
          },
          'graphql operation',
        );
      }
      if (record.operations.length === 0) {
        for (const code of record.requestCodes) metrics.errors.inc({ code });
        const refused = status >= 400 || record.requestCodes.length > 0;
        logger[status >= 500 ? 'error' : refused ? 'info' : 'debug'](
          {
            requestId: record.id,
            transport: 'http',
            method: request.method,
            status,
            durationMs: ms(record.start),
            errorCodes: record.requestCodes.length ? record.requestCodes : undefined,
          },
          refused ? 'graphql request refused' : 'http request',
        );
      }
    },
  };
}
