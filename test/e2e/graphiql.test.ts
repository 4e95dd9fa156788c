/**
 * First contact: the GraphiQL page. It was 9 MB of uncompressed HTML on every
 * visit and opened on one example. Now it is compressed once and served as the
 * browser accepts it (Brotli or gzip; a reload with its ETag is a 304), and it
 * opens with the README's operations as tabs (test/e2e/readme.test.ts checks
 * that the tabs are the README's blocks).
 */
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseEncoding, GRAPHIQL_OPTIONS } from '../../src/server/graphiql.ts';
import { GRAPHIQL_TABS } from '../../src/server/graphiql-tabs.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET with the given headers, body as sent on the wire (fetch would decompress it). */
function get(url: string, headers: Record<string, string>, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const MB = 1_000_000;

describe('Accept-Encoding', () => {
  it('chooses Brotli, then gzip, by the q-values, identity otherwise', () => {
    expect(chooseEncoding('gzip, deflate, br, zstd')).toBe('br');
    expect(chooseEncoding('gzip, deflate')).toBe('gzip');
    expect(chooseEncoding('br;q=0.5, gzip')).toBe('gzip');
    expect(chooseEncoding('br;q=0, gzip;q=0')).toBe('identity');
    expect(chooseEncoding('*')).toBe('br');
    expect(chooseEncoding(undefined)).toBe('identity');
  });
});

const kind = DATABASES[0]!;

describe(`GraphiQL page on ${kind}`, { timeout: 120_000 }, () => {
  let gw: TestGateway;
  let url: string;

  beforeAll(async () => {
    gw = await startGateway(kind);
    const address = await gw.app.start(0, '127.0.0.1');
    url = `http://127.0.0.1:${address.port}/graphql`;
  });
  afterAll(() => gw.close());

  it('is served gzip-compressed to a browser that accepts gzip, well under the 9 MB page', async () => {
    const response = await get(url, { ...HTML, 'accept-encoding': 'gzip, deflate' });
    expect(response.status).toBe(200);
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers.vary).toBe('Accept-Encoding');
    expect(response.body.length).toBeLessThan(3 * MB);
    const html = gunzipSync(response.body).toString('utf8');
    expect(html.length).toBeGreaterThan(5 * MB);
    expect(html).toContain('<title>Licensing gateway</title>');
    expect(html).not.toMatch(/(src|href)=["']https?:\/\//);
  });

  it('is served with Brotli once that is computed, and identity to a client that accepts neither', async () => {
    // Brotli is computed after gzip, in the background: the page is gzip until then.
    let response = await get(url, { ...HTML, 'accept-encoding': 'br' });
    for (let i = 0; i < 600 && response.headers['content-encoding'] !== 'br'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await get(url, { ...HTML, 'accept-encoding': 'br' });
    }
    expect(response.headers['content-encoding']).toBe('br');
    expect(response.body.length).toBeLessThan(2.5 * MB);
    const viaBrotli = brotliDecompressSync(response.body).toString('utf8');
    const identity = await get(url, { ...HTML, 'accept-encoding': 'identity' });
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.body.toString('utf8')).toBe(viaBrotli);
    expect(Number(identity.headers['content-length'])).toBe(identity.body.length);
  });

  it('answers a reload with its ETag with 304 and no body; HEAD with the headers only', async () => {
    const first = await get(url, { ...HTML, 'accept-encoding': 'gzip' });
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await get(url, { ...HTML, 'accept-encoding': 'gzip', 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const head = await get(url, { ...HTML, 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(first.headers['content-length']);
    expect(head.body.length).toBe(0);
  });

  it('opens with the README operations as tabs, subscriptions over graphql-ws', async () => {
    const html = gunzipSync((await get(url, { ...HTML, 'accept-encoding': 'gzip' })).body).toString('utf8');
    expect(html).toContain(JSON.stringify(GRAPHIQL_OPTIONS));
    expect(GRAPHIQL_OPTIONS.subscriptionsProtocol).toBe('WS');
    expect(GRAPHIQL_OPTIONS.defaultTabs?.map((t) => /^(?:query|mutation|subscription) (\w+)/.exec(t.query ?? '')?.[1])).toEqual([
      'CreateOrganization',
      'CreateAdminToken',
      'ActivateLicenseKey',
      'CreateSite',
      'CreateAgentsGroup',
      'CreateUser',
      'Organization',
      'SeatUsage',
    ]);
    expect(GRAPHIQL_OPTIONS.defaultTabs).toHaveLength(GRAPHIQL_TABS.length);
  });

  it('leaves GraphQL over GET to Yoga (no text/html in Accept)', async () => {
    const response = await fetch(`${url}?query=${encodeURIComponent('{ catalogs { code } }')}`, {
      headers: { accept: 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { catalogs: unknown[] } }).data.catalogs.length).toBe(4);
  });
});
