import { readFileSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sameSecret } from '../auth/tokens.ts';
import { dashboardPage, type DashboardSignIn } from '../live/dashboard.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Drain } from './drain.ts';
import type { GraphiQLPage } from './graphiql.ts';
import type { Readiness } from './readiness.ts';
import type { GatewayYoga } from './yoga.ts';

/** The live utilization page (R-LIVE-2), read once at startup; createHttpServer adds its sign-in settings. */
const DASHBOARD_HTML = readFileSync(new URL('../live/dashboard.html', import.meta.url), 'utf8');

export interface HttpDeps {
  yoga: GatewayYoga;
  /** GraphiQL on GET /graphql for browsers, compressed (server/graphiql.ts). */
  graphiql: GraphiQLPage;
  drain: Drain;
  metrics: Metrics;
  /** When set, /metrics answers only to `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string | null | undefined;
  readiness: () => Promise<Readiness>;
  /** GET /billing/<organization>/<YYYY-MM>.csv (server/billing-export.ts); absent: 404 like any unknown path. */
  billingExport?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;
  /** The dashboard's OpenID Connect sign-in (OIDC_DASHBOARD_CLIENT_ID); null: API tokens only. */
  dashboardSignIn?: DashboardSignIn | null;
}

/**
 * The node HTTP server and its routes: /healthz, /readyz, /metrics,
 * /dashboard, /billing/… (CSV exports), and everything else to Yoga (/graphql: GET/POST, SSE,
 * GraphiQL). graphql-ws shares it (server/websocket.ts).
 */
export function createHttpServer(deps: HttpDeps): Server {
  const { yoga, drain } = deps;
  const DASHBOARD = dashboardPage(DASHBOARD_HTML, deps.dashboardSignIn ?? null);
  const server = createServer((req, res) => {
    drain.track(res);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void sendJson(res, 200, { status: 'ok' });
    if (path === '/dashboard') return void DASHBOARD.serve(req, res);
    if (path === '/readyz') {
      void deps.readiness().then((ready) => sendJson(res, ready.ready ? 200 : 503, ready));
      return;
    }
    if (path === '/metrics') return void serveMetrics(deps, req, res);
    if (deps.billingExport && path?.startsWith('/billing/')) return void deps.billingExport(req, res, path);
    if (deps.graphiql.wants(req)) return void deps.graphiql.serve(req, res);
    void yoga.handle(req, res, { req, res });
  });

  // Requests Node cannot parse (a header block over 16 KiB, a broken request line) get a JSON 4xx too (R-SEC-4).
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ errors: [{ message: STATUS_CODES[status] ?? 'Bad Request', extensions: { code: 'BAD_REQUEST' } }] });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/** Listens (port 0 picks a free port) and resolves with the bound address. */
export function listen(server: Server, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

async function serveMetrics(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (deps.metricsToken) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!match?.[1] || !sameSecret(match[1], deps.metricsToken)) {
      res.setHeader('www-authenticate', 'Bearer');
      return sendJson(res, 401, { error: 'metrics need Authorization: Bearer <METRICS_TOKEN>' });
    }
  }
  try {
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  } catch {
    sendJson(res, 500, { error: 'metrics unavailable' });
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
