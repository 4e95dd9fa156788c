/*
 * One gateway process per PGlite data directory. PGlite takes no lock of its
 * own, and two processes writing one directory corrupt it, so the gateway
 * keeps `gateway.pid` there: its pid and the process's start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot). The file of a process that is
 * gone is taken over: a pid that no longer exists, a zombie (killed, not yet
 * reaped by its parent), or a pid that now belongs to another process (its
 * start time differs). Without /proc (not Linux) only "does the pid exist"
 * can be asked.
 */
import { existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'gateway.pid';

/** Thrown when a live gateway holds the directory. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`${dir} is in use by process ${pid}; PGlite allows one gateway process per data directory (use PostgreSQL for several)`);
    this.name = 'DataDirInUseError';
  }
}

interface ProcStat {
  /** R, S, D, Z (zombie), X (dead), … */
  state: string;
  /** Start time in clock ticks since boot. */
  start: string;
}

const HAS_PROC = existsSync('/proc/self/stat');

/** The state and start time of `pid` from /proc, or null when there is no such process (or no /proc). */
export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const start = fields[19]; // field 22 of the line; fields[0] is field 3
  return state && start ? { state, start } : null;
}

/** What a lock file names: a pid and, when written by this version, that process's start time. */
export function parseLock(text: string): { pid: number; start: string | null } | null {
  const [pidText, start] = text.trim().split(/\s+/);
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return { pid, start: start && /^\d+$/.test(start) ? start : null };
}

/** True when the process a lock file names still runs: same pid, not a zombie, and (when recorded) the same start time. */
export function holderAlive(holder: { pid: number; start: string | null }): boolean {
  if (holder.pid === process.pid) return false; // a previous run with our pid (a container's pid 1): it is gone
  if (HAS_PROC) {
    const stat = procStat(holder.pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
    return holder.start === null || holder.start === stat.start;
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `dir/gateway.pid` for this process, or throws DataDirInUseError when a
 * live gateway holds it. Returns the release function (removes the file if it
 * is still ours), or null when the directory is not initialized yet (PGlite's
 * initdb wants it empty): then call again right after opening.
 */
export function lockDataDir(dir: string): (() => void) | null {
  if (!existsSync(join(dir, 'PG_VERSION'))) return null;
  const file = join(dir, LOCK_FILE);
  const self = procStat(process.pid);
  const content = `${process.pid}${self ? ` ${self.start}` : ''}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, content, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8') === content) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      // Another start may be taking the same stale file over right now: look again a few times.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue; // removed meanwhile
      }
      const holder = parseLock(text);
      if (holder && holderAlive(holder)) throw new DataDirInUseError(dir, holder.pid);
      // Take the stale file away by renaming it (atomic: of two starts taking it over, one renames it). Should
      // what was renamed not be the stale file after all (another start took it over in between), put it back.
      const aside = `${file}.${process.pid}`;
      try {
        renameSync(file, aside);
      } catch {
        continue; // removed meanwhile
      }
      const moved = readFileSync(aside, 'utf8');
      if (moved !== text) {
        try {
          linkSync(aside, file);
        } finally {
          unlinkSync(aside);
        }
        const other = parseLock(moved);
        throw new DataDirInUseError(dir, other?.pid ?? 0);
      }
      unlinkSync(aside);
    }
  }
}
