/*
 * GraphiQL on GET /graphql for browsers (Accept: text/html), served by the
 * gateway itself (no CDN). graphql-yoga's render-graphiql inlines GraphiQL,
 * Monaco and their workers into one page of about 9 MB; rendered anew per
 * request, uncompressed, that is what every visit downloaded. Here the page
 * is rendered once, on the first visit (the bundle costs about 40 MiB of RSS
 * once loaded, so a gateway nobody browses never loads it), compressed once
 * with gzip and Brotli, and served compressed as the browser accepts it
 * (about 2.4 MB gzip, 1.9 MB Brotli), with an ETag so a reload is a 304.
 * It opens with the README's operations as tabs (graphiql-tabs.ts).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { brotliCompress, constants, gunzip, gzip } from 'node:zlib';
import type { GraphiQLOptions } from 'graphql-yoga';
import { GRAPHIQL_TABS } from './graphiql-tabs.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const brotliAsync = promisify(brotliCompress);

/** The page's options: the title, the README's tabs, subscriptions over graphql-ws (the token rule: ws-token.ts). */
export const GRAPHIQL_OPTIONS: GraphiQLOptions = {
  title: 'Licensing gateway',
  defaultTabs: GRAPHIQL_TABS.map((tab) => ({ query: tab.query, variables: tab.variables, headers: tab.headers })),
  subscriptionsProtocol: 'WS',
};

interface Compressed {
  etag: string;
  gzip: Buffer;
  /** Brotli takes longer: until it is there, gzip is served. */
  br: Buffer | null;
}

/** The one encoding to send for an Accept-Encoding header, by the client's q-values (br preferred on a tie). */
export function chooseEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | 'identity' {
  const q = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const weight = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    q.set(name, weight === undefined ? 1 : Number(weight));
  }
  const of = (name: string) => q.get(name) ?? q.get('*') ?? 0;
  const br = of('br');
  const gz = of('gzip');
  if (br > 0 && br >= gz) return 'br';
  if (gz > 0) return 'gzip';
  return 'identity';
}

/**
 * The GraphiQL page of one app.
 *
 * @example
 * const graphiql = new GraphiQLPage('/graphql');
 * if (graphiql.wants(req)) return void graphiql.serve(req, res);
 */
export class GraphiQLPage {
  #page: Promise<Compressed> | null = null;

  constructor(
    private readonly path: string,
    private readonly options: GraphiQLOptions = GRAPHIQL_OPTIONS,
  ) {}

  /** A browser asking for the page: GET or HEAD of the GraphQL path that accepts text/html (as graphql-yoga decides). */
  wants(req: IncomingMessage): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0];
    return (path === this.path || path === `${this.path}/`) && (req.headers.accept ?? '').includes('text/html');
  }

  serve(req: IncomingMessage, res: ServerResponse): void {
    void this.#respond(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('GraphiQL is unavailable');
    });
  }

  async #respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const page = await this.#render();
    const common = {
      'content-type': 'text/html; charset=utf-8',
      etag: page.etag,
      'cache-control': 'no-cache',
      vary: 'Accept-Encoding',
    };
    const match = req.headers['if-none-match'];
    if (match?.split(',').some((tag) => tag.trim() === page.etag)) {
      res.writeHead(304, common);
      return void res.end();
    }
    const encoding = chooseEncoding(req.headers['accept-encoding']);
    const body = encoding === 'br' && page.br ? page.br : encoding === 'identity' ? await gunzipAsync(page.gzip) : page.gzip;
    const sent = body === page.br ? 'br' : body === page.gzip ? 'gzip' : null;
    res.writeHead(200, { ...common, 'content-length': body.length, ...(sent ? { 'content-encoding': sent } : {}) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #render(): Promise<Compressed> {
    this.#page ??= (async () => {
      const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
      const html = Buffer.from(renderGraphiQL(this.options), 'utf8');
      const compressed: Compressed = {
        etag: `"${createHash('sha256').update(html).digest('base64url').slice(0, 22)}"`,
        gzip: await gzipAsync(html),
        br: null,
      };
      // Quality 5: about 80 % of the best Brotli size at a fraction of its time (quality 11 takes minutes).
      void brotliAsync(html, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: html.length },
      }).then(
        (br) => (compressed.br = br),
        () => undefined,
      );
      return compressed;
    })();
    // A failed render is tried again by the next visit.
    this.#page.catch(() => (this.#page = null));
    return this.#page;
  }
}
