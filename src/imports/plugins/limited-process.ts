import { spawn } from 'node:child_process';
import { ImportPluginError } from './import-plugin-error.js';

/**
 * Limits for one run of an external tool. Hostile images have made qemu-img spin and allocate
 * without end (reference §9.7 "under resource limits"; OSSA-2016-012), so every run gets a CPU
 * budget and an address-space ceiling the kernel enforces, plus a wall-clock deadline for a tool
 * stuck without using CPU.
 */
export interface ProcessLimits {
  /** RLIMIT_CPU, in seconds of CPU time. At the limit the kernel sends SIGXCPU. */
  readonly cpuSeconds: number;
  /** RLIMIT_AS, in bytes of address space; null for no ceiling. */
  readonly addressSpaceBytes: number | null;
  /** Wall-clock time after which the process is killed, in milliseconds. */
  readonly timeoutMs: number;
}

export interface LimitedRun {
  /** What the tool is doing, for messages: `qemu-img info`. */
  readonly label: string;
  /** The prlimit binary from util-linux. */
  readonly prlimit: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly limits: ProcessLimits;
  readonly signal: AbortSignal;
  /** Stdout beyond this many bytes kills the tool (a crafted image can make `info` print megabytes). */
  readonly maxStdoutBytes: number;
  /** The plugin reported in errors. */
  readonly plugin: string;
  /** Turns the tool's stderr into the text of an error (to hide local paths). */
  readonly describeStderr?: (stderr: string) => string;
}

export interface LimitedRunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Stderr kept for the failure message; qemu-img says what went wrong in its first lines. */
const MAX_STDERR_BYTES = 16 * 1024;
/** The most of stderr a failure message quotes. */
const MAX_MESSAGE_STDERR = 1000;
/** Only what the tools need: no inherited credentials, and messages in one language. */
const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

type Stop = { readonly kind: 'timeout' } | { readonly kind: 'output' } | { readonly kind: 'aborted' } | null;

/**
 * Runs `command args` under `prlimit --cpu --as`, without a shell and without blocking the event
 * loop. prlimit sets the limits on itself and then execs the command, so the process spawned is
 * the tool itself, and killing it leaves nothing behind. Resolves with the output of a zero exit;
 * otherwise throws an ImportPluginError: TOOL_FAILED for an error exit (quoting stderr),
 * TOOL_LIMIT for a limit, ABORTED when `signal` fired.
 */
export async function runLimited(run: LimitedRun): Promise<LimitedRunResult> {
  const { label, limits, signal, plugin } = run;
  if (signal.aborted) throw new ImportPluginError(plugin, 'ABORTED', `${label} was cancelled`, { cause: signal.reason });
  // The soft CPU limit sends SIGXCPU, which we can name in the message; the hard limit one
  // second later is SIGKILL, for a tool that catches SIGXCPU.
  const cpu = Math.max(1, Math.ceil(limits.cpuSeconds));
  const limitArgs = [`--cpu=${cpu}:${cpu + 1}`, ...(limits.addressSpaceBytes === null ? [] : [`--as=${Math.floor(limits.addressSpaceBytes)}`])];
  const child = spawn(run.prlimit, [...limitArgs, '--', run.command, ...run.args], { stdio: ['ignore', 'pipe', 'pipe'], env: TOOL_ENV, shell: false });

  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let stdoutBytes = 0;
  let stderrBytes = 0;
  // Why we killed the tool, if we did; set from the callbacks below.
  const state: { stop: Stop } = { stop: null };
  const kill = (reason: NonNullable<Stop>): void => {
    if (state.stop !== null) return;
    state.stop = reason;
    child.kill('SIGKILL');
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length;
    if (stdoutBytes > run.maxStdoutBytes) kill({ kind: 'output' });
    else stdout.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderrBytes >= MAX_STDERR_BYTES) return;
    const kept = chunk.subarray(0, MAX_STDERR_BYTES - stderrBytes);
    stderrBytes += kept.length;
    stderr.push(kept);
  });
  const timer = setTimeout(() => kill({ kind: 'timeout' }), limits.timeoutMs);
  const onAbort = (): void => kill({ kind: 'aborted' });
  signal.addEventListener('abort', onAbort, { once: true });

  try {
    const end = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
    }).catch((error: unknown) => {
      throw new ImportPluginError(plugin, 'TOOL_FAILED', `${label} could not be started${errorCode(error)}`, { cause: error });
    });
    const out = Buffer.concat(stdout).toString('utf8');
    const err = Buffer.concat(stderr).toString('utf8');
    const stopped = state.stop;
    if (stopped !== null) {
      switch (stopped.kind) {
        case 'aborted':
          throw new ImportPluginError(plugin, 'ABORTED', `${label} was cancelled`, { cause: signal.reason });
        case 'timeout':
          throw new ImportPluginError(plugin, 'TOOL_LIMIT', `${label} did not finish within ${limits.timeoutMs} ms and was killed`);
        case 'output':
          throw new ImportPluginError(plugin, 'TOOL_LIMIT', `${label} printed more than ${run.maxStdoutBytes} bytes and was killed`);
      }
    }
    if (end.signal === 'SIGXCPU') {
      throw new ImportPluginError(plugin, 'TOOL_LIMIT', `${label} used more than its CPU time limit of ${cpu} s and was killed`);
    }
    // Not from us: the hard CPU limit, or the kernel out of memory.
    if (end.signal === 'SIGKILL') {
      throw new ImportPluginError(plugin, 'TOOL_LIMIT', `${label} was killed (SIGKILL) for going past its CPU time limit of ${cpu} s or out of memory`);
    }
    if (end.signal !== null) {
      throw new ImportPluginError(plugin, 'TOOL_FAILED', `${label} was killed by ${end.signal}${quote(err, run.describeStderr)}`);
    }
    if (end.code !== 0) {
      throw new ImportPluginError(plugin, 'TOOL_FAILED', `${label} failed with exit status ${end.code}${quote(err, run.describeStderr)}`);
    }
    return { stdout: out, stderr: err };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

function quote(stderr: string, describe: ((stderr: string) => string) | undefined): string {
  const text = (describe === undefined ? stderr : describe(stderr)).trim();
  if (text === '') return '';
  return `: ${text.length > MAX_MESSAGE_STDERR ? `${text.slice(0, MAX_MESSAGE_STDERR)}...` : text}`;
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? ` (${error.code})` : '';
}
