import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type ClientMetadata } from 'oidc-provider';
import type { OidcOptions } from '../../src/auth/oidc.ts';
import { defaultRoleMap } from '../../src/auth/oidc.ts';

/*
 * A real OpenID Connect provider (the `oidc-provider` package) on 127.0.0.1
 * and a free port, for the sign-in tests. Tokens come from its real flows:
 * client_credentials for machine-like test callers, the authorization-code
 * flow with PKCE (its development login form) for the dashboard. Access
 * tokens are JWTs for the gateway's audience (resource indicators); the
 * claims each client or account gets are the test's (`claims`).
 */

/** The resource identifier the gateway's tokens are for (its OIDC_AUDIENCE). */
export const AUDIENCE = 'urn:licensing-gateway:test';
/** Another API's resource identifier: its tokens must be refused by the gateway. */
export const OTHER_AUDIENCE = 'urn:some-other-api';

export interface TestClient {
  clientId: string;
  /** Extra claims of its access tokens (org, roles, amr …). */
  claims: Record<string, unknown>;
}

export interface ProviderOptions {
  /** client_credentials clients and their claims. */
  clients: TestClient[];
  /** A public authorization-code client (PKCE) for the dashboard, redirecting to these URIs. */
  dashboard?: { clientId: string; redirectUris: string[]; claims: Record<string, unknown> };
  /** Lifetime of access tokens in seconds (default 300). */
  accessTokenTtl?: number;
  /** Listen on this port (a restart keeps the issuer URL); default a free one. */
  port?: number;
}

export interface TestProvider {
  issuer: string;
  port: number;
  /** The id (kid) of the signing key in use. */
  kid: string;
  /** An access token through client_credentials for `clientId` and `resource` (default AUDIENCE). */
  token(clientId: string, resource?: string): Promise<{ token: string; expiresIn: number }>;
  stop(): Promise<void>;
}

export const CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

/** An RSA signing key as a private JWK with a fresh kid. */
export function signingJwk(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `k-${randomBytes(6).toString('hex')}`, use: 'sig', alg: 'RS256' };
}

/** Starts the provider with `jwk` as its one signing key. */
export async function startProvider(options: ProviderOptions, jwk: Record<string, unknown> = signingJwk()): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const claimsOf = new Map(options.clients.map((c) => [c.clientId, c.claims]));
  const ttl = options.accessTokenTtl ?? 300;
  const provider = new Provider(issuer, {
    clients: [
      ...options.clients.map(
        (c): ClientMetadata => ({
          client_id: c.clientId,
          client_secret: CLIENT_SECRET,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
          token_endpoint_auth_method: 'client_secret_post' as const,
        }),
      ),
      ...(options.dashboard
        ? [
            <ClientMetadata>{
              client_id: options.dashboard.clientId,
              grant_types: ['authorization_code'],
              response_types: ['code'],
              redirect_uris: options.dashboard.redirectUris,
              token_endpoint_auth_method: 'none' as const,
            },
          ]
        : []),
    ],
    jwks: { keys: [jwk as never] },
    ttl: { ClientCredentials: ttl, AccessToken: ttl },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    // The dashboard calls the token endpoint from its own origin (CORS), as a browser public client does.
    clientBasedCORS: () => true,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== AUDIENCE && resource !== OTHER_AUDIENCE) throw new Error(`unknown resource ${resource}`);
          return { scope: 'licensing', audience: resource, accessTokenTTL: ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    // The dashboard's sign-in grants what it asks for: the development login form stands in for a real login page.
    loadExistingGrant: async (ctx) => {
      const client = ctx.oidc.client;
      const session = ctx.oidc.session;
      if (!client || !session?.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid');
      grant.addResourceScope(AUDIENCE, 'licensing');
      await grant.save();
      return grant;
    },
    extraTokenClaims: (_ctx, token) => {
      const clientId = (token as { clientId?: string }).clientId;
      if (options.dashboard && clientId === options.dashboard.clientId) return options.dashboard.claims;
      return clientId ? claimsOf.get(clientId) : undefined;
    },
  });
  // Errors the provider answers (bad requests) are not the test's failures.
  provider.on('server_error', () => undefined);
  server.on('request', provider.callback());
  return {
    issuer,
    port,
    kid: String(jwk.kid),
    async token(clientId, resource = AUDIENCE) {
      const request = () =>
        fetch(`${issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: clientId,
            client_secret: CLIENT_SECRET,
            resource,
            scope: 'licensing',
          }),
        });
      // A kept-alive connection to a provider stopped before (a restart on this port) fails once; the next request opens a new one.
      const response = await request().catch(request);
      const body = (await response.json()) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
      if (!response.ok || !body.access_token) throw new Error(`token request failed: ${response.status} ${JSON.stringify(body)}`);
      return { token: body.access_token, expiresIn: body.expires_in ?? ttl };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The gateway's OIDC options for `issuers` (the defaults of config.ts; no JWKS cool-down, so a rotated key is read at once). */
export function gatewayOidc(issuers: string[], overrides: Partial<OidcOptions> = {}): OidcOptions {
  return {
    issuers,
    audience: AUDIENCE,
    organizationClaim: 'org',
    rolesClaim: 'roles',
    roleMap: defaultRoleMap(),
    algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clockSkewSeconds: 60,
    jwksCacheSeconds: 600,
    jwksCooldownSeconds: 0,
    adminAmr: 'hwk',
    dashboardClientId: null,
    dashboardScope: 'openid',
    httpTimeoutMs: 2_000,
    ...overrides,
  };
}
