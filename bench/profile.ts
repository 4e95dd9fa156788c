/*
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per package/module, optionally only for the samples inside a time window
 * (process.hrtime.bigint() readings in µs: V8 stamps samples with the same
 * monotonic clock). Usable alone: `tsx bench/profile.ts FILE.cpuprofile [N]`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  file: string;
  /** Sampled wall time considered, ms. */
  totalMs: number;
  /** Time the thread was busy (not idle), ms. */
  busyMs: number;
  windowed: boolean;
  functions: ProfileEntry[];
  modules: ProfileEntry[];
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function shortUrl(url: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm);
  return u;
}

/**
 * The source files of a bundle (`dist/gateway.mjs`): esbuild writes a
 * `// <path>` comment line before each file it puts in, so a line of the
 * bundle belongs to the last such comment above it. Read once per bundle;
 * an unreadable file or one without such lines maps to nothing.
 */
const bundles = new Map<string, { lines: number[]; paths: string[] }>();

function bundleFiles(url: string): { lines: number[]; paths: string[] } {
  let files = bundles.get(url);
  if (files === undefined) {
    files = { lines: [], paths: [] };
    try {
      const text = readFileSync(url.replace(/^file:\/\//, ''), 'utf8').split('\n');
      for (let i = 0; i < text.length; i++) {
        const m = /^\/\/ (\S+\.(?:m?js|cjs|json))$/.exec(text[i]!);
        if (m) {
          files.lines.push(i);
          // The build compiles src/ into a staging directory (dist.new-<pid>/src/…) before it bundles.
          const path = m[1]!.replace(/^dist[^/]*\/(?=src\/)/, '');
          files.paths.push(path.startsWith('src/') ? path.replace(/\.js$/, '.ts') : path);
        }
      }
    } catch {
      // not a file on this machine: no mapping
    }
    bundles.set(url, files);
  }
  return files;
}

/** The file of a bundle that line `line` (0-based, as V8 counts) came from, or null. */
export function bundledFile(url: string, line: number): string | null {
  if (!url.endsWith('.mjs') || url.startsWith('node:')) return null;
  const { lines, paths } = bundleFiles(url);
  let lo = 0;
  let hi = lines.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (lines[mid]! <= line) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Above the first file: esbuild's own helpers (__export, __commonJS, …).
  if (found < 0) return lines.length > 0 ? '(bundle runtime)' : null;
  return paths[found]!;
}

/** The package or source area a script (or, in a bundle, the file of that line) belongs to. */
export function moduleOf(url: string, functionName: string, line = 0): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/V8)';
  if (url.startsWith('node:')) return 'node: (core)';
  const u = bundledFile(url, line) ?? shortUrl(url);
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1]!;
  return u;
}

/** How a function is named in a summary: name, script and line, and the bundled file it came from. */
export function frameName(functionName: string, url: string, line: number): string {
  if (!url) return functionName || '(anonymous)';
  const file = bundledFile(url, line);
  return `${functionName || '(anonymous)'} ${shortUrl(url)}:${line + 1}${file ? ` (${file.replace(/^.*node_modules\//, '')})` : ''}`;
}

export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let t = profile.startTime;
  const useWindow = window !== undefined && window.fromUs < profile.endTime && window.toUs > profile.startTime;
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (useWindow && (t < window!.fromUs || t > window!.toUs)) continue;
    const id = profile.samples[i]!;
    // Attribute the interval up to the next sample to this one.
    const span = profile.timeDeltas[i + 1] ?? delta;
    self.set(id, (self.get(id) ?? 0) + span);
    total += span;
  }
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += us;
    const name = frameName(functionName, url, lineNumber);
    fn.set(name, (fn.get(name) ?? 0) + us);
    const m = moduleOf(url, functionName, lineNumber);
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: total ? us / total : 0 }));
  return { file, totalMs: total / 1000, busyMs: (total - idle) / 1000, windowed: useWindow, functions: list(fn), modules: list(mod) };
}

export function formatProfile(s: ProfileSummary, rows = 20): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
  const lines = [
    `profile ${s.file}: ${s.totalMs.toFixed(0)} ms sampled${s.windowed ? ' (window)' : ' (whole run)'}, busy ${s.busyMs.toFixed(0)} ms`,
    'top self time by function:',
  ];
  for (const f of s.functions.slice(0, rows)) lines.push(`  ${pct(f.share)} ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}`);
  lines.push('self time by package/module:');
  for (const m of s.modules.slice(0, rows)) lines.push(`  ${pct(m.share)} ${m.selfMs.toFixed(0).padStart(7)} ms  ${m.name}`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/profile.ts FILE.cpuprofile [rows] [fromUs toUs]');
    process.exit(2);
  }
  // A window in process.hrtime.bigint() µs, e.g. the one the bench prints for a profiled fan-out.
  const [from, to] = [process.argv[4], process.argv[5]].map(Number);
  const window = from && to ? { fromUs: from, toUs: to } : undefined;
  console.log(formatProfile(summarizeProfile(file, window, 40), Number(process.argv[3] ?? 25)));
}
