import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

/* OIDC_* configuration (R-AUTH-1, R-AUTH-3): a bad value stops the start naming its variable. */

const BASE = { OPERATOR_TOKEN: 'an-operator-token-0123456789' };
const refusal = (env: Record<string, string>) => {
  try {
    loadConfig({ ...BASE, ...env });
  } catch (error) {
    return error instanceof ConfigError ? error.variable : String(error);
  }
  return null;
};

describe('OIDC configuration', () => {
  it('[R-AUTH-1] is off without OIDC_ISSUERS, and takes the documented defaults with it', () => {
    expect(loadConfig(BASE).oidc).toBeNull();
    const oidc = loadConfig({ ...BASE, OIDC_ISSUERS: 'https://login.example.com/realm', OIDC_AUDIENCE: 'urn:gw' }).oidc;
    expect(oidc).toMatchObject({
      issuers: ['https://login.example.com/realm'],
      audience: 'urn:gw',
      organizationClaim: 'org',
      rolesClaim: 'roles',
      algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      clockSkewSeconds: 60,
      jwksCacheSeconds: 600,
      jwksCooldownSeconds: 30,
      adminAmr: 'hwk',
      dashboardClientId: null,
    });
    expect([...(oidc?.roleMap ?? [])]).toEqual([
      ['ADMIN', 'ADMIN'],
      ['SUPERVISOR', 'SUPERVISOR'],
      ['INTEGRATOR', 'INTEGRATOR'],
    ]);
  });

  it('[R-AUTH-1] refuses a missing audience, plain http off loopback, none and HS* algorithms', () => {
    const issuers = { OIDC_ISSUERS: 'https://login.example.com' };
    expect(refusal(issuers)).toBe('OIDC_AUDIENCE');
    expect(refusal({ OIDC_ISSUERS: 'http://login.example.com', OIDC_AUDIENCE: 'a' })).toBe('OIDC_ISSUERS');
    expect(refusal({ OIDC_ISSUERS: 'http://127.0.0.1:9000', OIDC_AUDIENCE: 'a' })).toBeNull();
    expect(refusal({ ...issuers, OIDC_AUDIENCE: 'a', OIDC_ALGORITHMS: 'RS256,none' })).toBe('OIDC_ALGORITHMS');
    expect(refusal({ ...issuers, OIDC_AUDIENCE: 'a', OIDC_ALGORITHMS: 'HS256' })).toBe('OIDC_ALGORITHMS');
  });

  it('[R-AUTH-3] reads OIDC_ROLE_MAP as value=ROLE pairs and refuses an unknown role', () => {
    const env = { OIDC_ISSUERS: 'https://login.example.com', OIDC_AUDIENCE: 'a', OIDC_ROLES_CLAIM: 'groups' };
    const oidc = loadConfig({ ...BASE, ...env, OIDC_ROLE_MAP: 'lg-admins=ADMIN, lg-supervisors=SUPERVISOR' }).oidc;
    expect(oidc?.rolesClaim).toBe('groups');
    expect([...(oidc?.roleMap ?? [])]).toEqual([
      ['lg-admins', 'ADMIN'],
      ['lg-supervisors', 'SUPERVISOR'],
    ]);
    expect(refusal({ ...env, OIDC_ROLE_MAP: 'lg-admins=ROOT' })).toBe('OIDC_ROLE_MAP');
  });
});
