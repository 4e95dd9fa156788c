/*
 * Figures, their baselines and targets: percentiles, the printed table and
 * the JSON file (`--json FILE`).
 */
import { writeFileSync } from 'node:fs';

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function summary(values: ArrayLike<number>) {
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    max = Math.max(max, values[i]!);
    sum += values[i]!;
  }
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? max : Number.NaN,
    mean: values.length ? sum / values.length : Number.NaN,
  };
}

export interface Target {
  /** e.g. "≥ 0.6× pgbench", "≤ 10 ms". */
  text: string;
  pass: boolean;
}

export interface Figure {
  scenario: string;
  /** Which setup, e.g. "PostgreSQL, 1 org × 5,000 agents, 64 clients". */
  case: string;
  metric: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number };
  /** value / baseline.value. */
  ratio?: number;
  target?: Target;
  note?: string;
}

export class Report {
  readonly figures: Figure[] = [];
  readonly failures: string[] = [];
  readonly facts: Record<string, unknown> = {};
  readonly extra: Record<string, unknown> = {};

  add(figure: Omit<Figure, 'ratio'> & { ratio?: number }): Figure {
    const f: Figure = { ...figure };
    if (f.baseline && f.ratio === undefined && Number.isFinite(f.baseline.value) && f.baseline.value !== 0)
      f.ratio = f.value / f.baseline.value;
    this.figures.push(f);
    printFigure(f);
    return f;
  }

  fail(message: string): void {
    this.failures.push(message);
    console.error(`FAIL: ${message}`);
  }

  table(): string {
    const rows = this.figures.map((f) => [
      f.scenario,
      f.case,
      f.metric,
      `${fmt(f.value)} ${f.unit}`,
      f.baseline ? `${fmt(f.baseline.value)} (${f.baseline.label})` : '',
      f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : '',
      f.target ? `${f.target.text} ${f.target.pass ? 'ok' : 'MISSED'}` : '',
    ]);
    const head = ['scenario', 'case', 'metric', 'value', 'baseline', 'ratio', 'target'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
    return [line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n');
  }

  /** A Markdown table (BENCHMARKS.md). */
  markdown(): string {
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    const out = ['| scenario | case | metric | value | baseline | ratio | target |', '|---|---|---|---:|---|---:|---|'];
    for (const f of this.figures) {
      out.push(
        `| ${esc(f.scenario)} | ${esc(f.case)} | ${esc(f.metric)} | ${fmt(f.value)} ${f.unit} | ${f.baseline ? `${fmt(f.baseline.value)} (${esc(f.baseline.label)})` : ''} | ${f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : ''} | ${f.target ? `${esc(f.target.text)} ${f.target.pass ? '✅' : '❌'}` : ''} |`,
      );
    }
    return out.join('\n');
  }

  write(file: string): void {
    writeFileSync(
      file,
      `${JSON.stringify({ at: new Date().toISOString(), facts: this.facts, figures: this.figures, failures: this.failures, extra: this.extra }, null, 2)}\n`,
    );
  }
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function printFigure(f: Figure): void {
  const base = f.baseline
    ? `   [baseline ${fmt(f.baseline.value)} ${f.unit} ${f.baseline.label}${f.ratio !== undefined ? `, ratio ${f.ratio.toFixed(2)}×` : ''}]`
    : '';
  const target = f.target ? `   target ${f.target.text}: ${f.target.pass ? 'ok' : 'MISSED'}` : '';
  console.log(`  ${f.scenario} · ${f.case} · ${f.metric}: ${fmt(f.value)} ${f.unit}${base}${target}${f.note ? `   (${f.note})` : ''}`);
}

/** Microseconds between two hrtime.bigint() readings. */
export const usBetween = (from: bigint, to: bigint) => Number(to - from) / 1000;
