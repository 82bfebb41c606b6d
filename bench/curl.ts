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

/**
 * PUT of a file with curl -T (Content-Length, streamed from the file, no 100-continue wait) to
 * `path` of the server; fails unless the answer is 204.
 */
export async function putFileWithCurl(
  target: { readonly name: string; readonly url: string; readonly headers: Readonly<Record<string, string>> },
  path: string,
  file: string,
): Promise<void> {
  const status = await curl([
    ...headerArgs(target),
    '-H',
    'Content-Type: application/octet-stream',
    '-H',
    'Expect:',
    '-T',
    file,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    `${target.url}${path}`,
  ]);
  if (status !== '204') throw new Error(`${target.name} PUT ${path}: ${status}`);
}
