import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The live utilization page (R-LIVE-2): one static, self-contained HTML file
 * that uses the public API (HTTP for queries, graphql-ws for subscriptions)
 * with a token the user enters.
 *
 * Its Content-Security-Policy allows exactly the page's own inline <script>
 * and <style> (by SHA-256 hash, so no 'unsafe-inline'), connections to this
 * origin only (HTTP and ws:/wss: of the requested host), and nothing else:
 * no external scripts, styles, fonts, frames or form targets.
 */
export interface DashboardPage {
  /** Answers GET and HEAD with the page, anything else with 405. */
  serve(req: IncomingMessage, res: ServerResponse): void;
  /** The Content-Security-Policy sent for a request with this Host header. */
  contentSecurityPolicy(host: string | undefined): string;
}

/** host, host:port, IPv4 or [IPv6]:port: what may be echoed into connect-src. */
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function inlineHashes(html: string, tag: 'script' | 'style'): string[] {
  const hashes: string[] = [];
  for (const match of html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))) {
    hashes.push(
      `'sha256-${createHash('sha256')
        .update(match[1] ?? '', 'utf8')
        .digest('base64')}'`,
    );
  }
  return hashes;
}

/** What the page needs to sign in through OpenID Connect (authorization code + PKCE, a public client). */
export interface DashboardSignIn {
  issuer: string;
  clientId: string;
  scope: string;
  /** The resource (OIDC_AUDIENCE) the access token is asked for. */
  audience: string;
}

const attribute = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The page; with `signIn` it also offers "Sign in with your identity
 * provider": the settings travel in a `<meta name="oidc-sign-in">` element,
 * and connect-src admits the issuer's origin (discovery and token endpoint).
 */
export function dashboardPage(template: string, signIn: DashboardSignIn | null = null): DashboardPage {
  const html = signIn
    ? template.replace('</head>', `<meta name="oidc-sign-in" content="${attribute(JSON.stringify(signIn))}">\n</head>`)
    : template;
  const issuerOrigin = signIn ? ` ${new URL(signIn.issuer).origin}` : '';
  const body = Buffer.from(html, 'utf8');
  const scripts = inlineHashes(html, 'script');
  const styles = inlineHashes(html, 'style');
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

  const contentSecurityPolicy = (host: string | undefined): string => {
    const sameHost = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
    return [
      "default-src 'none'",
      `script-src ${scripts.join(' ') || "'none'"}`,
      `style-src ${styles.join(' ') || "'none'"}`,
      `connect-src 'self'${sameHost}${issuerOrigin}`,
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
  };

  return {
    contentSecurityPolicy,
    serve(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const text = JSON.stringify({ error: 'method not allowed' });
        res.writeHead(405, {
          allow: 'GET, HEAD',
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
        return;
      }
      const headers = {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': contentSecurityPolicy(req.headers.host),
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin',
        'cache-control': 'no-cache',
        etag,
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}
