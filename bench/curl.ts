import { spawn } from 'node:child_process';

/** Runs curl, the benchmarks' client (light, so the servers' costs dominate); its -w output (and what it printed on stderr). */
export function curl(args: readonly string[]): Promise<string> {
  return new Promise((resolveCurl, reject) => {
    const child = spawn('curl', ['-sS', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolveCurl(out.trim());
      else reject(new Error(`curl ${args.join(' ')}: exit ${code ?? -1}: ${out}`));
    });
  });
}

/** A server's request headers as curl arguments. */
export const headerArgs = (target: { readonly headers: Readonly<Record<string, string>> }): string[] =>
  Object.entries(target.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
