import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Viewer } from '../auth/viewer.ts';
import { billingCsv, billingReportFor } from '../billing/billing.service.ts';
import type { Context } from '../context.ts';
import type { Logger } from '../observability/logger.ts';
import { clientAddress } from '../security/rate-limit.ts';
import type { Authenticate } from './authenticate.ts';

/** `/billing/<organization id>/<YYYY-MM>.csv` */
const ROUTE = /^\/billing\/([^/]+)\/([^/]+)\.csv$/;

export interface BillingExportDeps {
  authenticate: Authenticate;
  context: (viewer: Viewer) => Context;
  trustProxy: boolean;
  logger: Logger;
}

const STATUS: Record<string, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  STATEMENT_TIMEOUT: 503,
  CLOCK_SKEW: 503,
};

/**
 * GET /billing/<organization>/<YYYY-MM>.csv (R-BILL-2, R-BILL-3): the month's
 * billing report as CSV, for `Authorization: Bearer <token>` of the
 * organization's ADMIN or the operator, authenticated as /graphql is (the
 * same bad-token rate limit). Refusals are JSON `{ error, code }` with 400,
 * 401, 403, 404, 405 or 429, never a stack trace; anything unexpected is a
 * 500 "Unexpected error." and is logged.
 */
export function createBillingExport(deps: BillingExportDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
  return async (req, res, path) => {
    const match = ROUTE.exec(path);
    if (!match) return refuse(res, 404, 'NOT_FOUND', 'billing exports are at /billing/<organization id>/<YYYY-MM>.csv');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return refuse(res, 405, 'METHOD_NOT_ALLOWED', 'billing exports answer GET only');
    }
    const [, organizationId = '', period = ''] = match.map((part) => safeDecode(part));
    try {
      const viewer = await deps.authenticate(req.headers.authorization, clientAddress(req, deps.trustProxy));
      const report = await billingReportFor(deps.context(viewer), organizationId, period, 'period');
      const body = billingCsv(report);
      res.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8; header=present',
        'content-disposition': `attachment; filename="billing-${report.organizationId}-${report.period}.csv"`,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      const code = error instanceof GraphQLError ? String(error.extensions.code ?? '') : '';
      const status = STATUS[code];
      if (status === undefined) {
        deps.logger.error({ err: error, path }, 'billing export failed');
        return refuse(res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.');
      }
      if (status === 401) res.setHeader('www-authenticate', 'Bearer');
      const http = (error as GraphQLError).extensions.http as { headers?: Record<string, string> } | undefined;
      for (const [name, value] of Object.entries(http?.headers ?? {})) res.setHeader(name, value);
      refuse(res, status, code, (error as GraphQLError).message);
    }
  };
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const text = JSON.stringify({ error: message, code });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
