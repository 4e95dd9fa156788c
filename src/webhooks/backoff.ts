/**
 * The pause before attempt `attempt + 1` after `attempt` failed: exponential
 * (base, 2·base, 4·base … capped at max) with "equal jitter" (half fixed, half
 * random), so that the retries of many messages failing together spread out
 * while every pause still grows.
 *
 * @example
 * retryDelayMs(3, 5000, 3_600_000, () => 0.5); // 20,000 · (0.5 + 0.25) = 15,000
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
