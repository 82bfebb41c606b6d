/**
 * CPU time and resident memory of a server's whole process group (the server and its workers),
 * read from /proc, and a sampler of the group's RSS.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** Processes of a process group, from /proc. */
export function groupPids(group: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === group) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** User + system CPU seconds of the group's live processes. */
export function groupCpuSeconds(group: number): number {
  let ticks = 0;
  for (const pid of groupPids(group)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // ended
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** The sum of VmRSS over the group's processes, in MiB. */
export function groupRssMiB(group: number): number {
  let kib = 0;
  for (const pid of groupPids(group)) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kib += Number(match?.[1] ?? 0);
    } catch {
      // ended
    }
  }
  return kib / 1024;
}

export interface RssSampler {
  /** Stops sampling; the peak seen (MiB) and the number of samples. */
  readonly stop: () => { readonly peakMiB: number; readonly samples: number };
}

/** Samples the group's RSS every `intervalMs` until stopped. */
export function sampleRss(group: number, intervalMs: number): RssSampler {
  let peak = groupRssMiB(group);
  let samples = 1;
  const timer = setInterval(() => {
    peak = Math.max(peak, groupRssMiB(group));
    samples += 1;
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, groupRssMiB(group));
      return { peakMiB: peak, samples: samples + 1 };
    },
  };
}

/** Each process of the group: pid, command line (shortened) and VmRSS in MiB. */
export function groupRssBreakdown(group: number): { pid: number; command: string; rssMiB: number }[] {
  return groupPids(group).flatMap((pid) => {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 120);
      return [{ pid, command, rssMiB: Number(match?.[1] ?? 0) / 1024 }];
    } catch {
      return [];
    }
  });
}
