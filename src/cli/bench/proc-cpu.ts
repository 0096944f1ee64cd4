/**
 * CPU time of a local process from /proc/PID/stat: utime + stime (fields 14 and 15), which cover
 * every thread of the process, in clock ticks of USER_HZ (100 on Linux; `getconf CLK_TCK`).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

/** USER_HZ, read once from `getconf CLK_TCK` (100 when getconf is missing). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Parses the text of /proc/PID/stat into utime + stime ticks. */
export function parseStatTicks(stat: string): number {
  // Field 2 (comm) is in parentheses and may hold spaces: count fields after its last ')'.
  const close = stat.lastIndexOf(')');
  if (close === -1) throw new Error('unreadable /proc stat line');
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error('bad utime/stime in /proc stat');
  }
  return utime + stime;
}

/** CPU seconds used so far by process `pid` (all its threads). */
export function processCpuSeconds(pid: number): number {
  return parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicksPerSecond();
}
