import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_ROLES = ['ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** A new organization token: 256 random bits, recognisable prefix for secret scanners. */
export function generateToken(): string {
  return `lgw_${randomBytes(32).toString('base64url')}`;
}

/** Only this hash is stored (R-SEC-1). The secret has full entropy, so a plain SHA-256 suffices. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
