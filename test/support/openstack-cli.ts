import { spawn } from 'node:child_process';

/**
 * Runs Debian's `openstack` / `glance` CLIs. They are Python programs built for /usr/bin/python3,
 * so /usr/bin comes first and any virtualenv is left out. They run under `script` so that stdin
 * is a terminal: the CLIs read image data from a non-terminal stdin and would upload it.
 */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
}

export interface Credentials {
  readonly authUrl: string;
  readonly username: string;
  readonly password: string;
  /** The project to scope the token to; `system` or a domain instead, as `--os-system-scope all` / `--os-domain-id`. */
  readonly project: string;
  readonly scope?: { readonly system: 'all' } | { readonly domainId: string };
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

export function runCli(program: 'openstack' | 'glance', credentials: Credentials, args: readonly string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: `/usr/bin:/bin:/usr/sbin:/sbin`,
    HOME: process.env['HOME'] ?? '/root',
    LANG: 'C.UTF-8',
    no_proxy: '127.0.0.1,localhost',
    OS_AUTH_URL: credentials.authUrl,
    OS_IDENTITY_API_VERSION: '3',
    OS_USERNAME: credentials.username,
    OS_PASSWORD: credentials.password,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_IMAGE_API_VERSION: '2',
  };
  const scope = credentials.scope;
  if (scope === undefined) Object.assign(env, { OS_PROJECT_NAME: credentials.project, OS_PROJECT_DOMAIN_NAME: 'Default' });
  else if ('system' in scope) env['OS_SYSTEM_SCOPE'] = scope.system;
  else env['OS_DOMAIN_ID'] = scope.domainId;
  const commandLine = [program, ...args].map(quote).join(' ');
  return new Promise((resolveResult, reject) => {
    const child = spawn('script', ['-qec', commandLine, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolveResult({ code: code ?? -1, stdout: stdout.replaceAll('\r\n', '\n') });
    });
  });
}

/** Parses the JSON a `-f json` command printed (the terminal may add noise around it). */
export function parseJsonOutput<T>(output: string): T {
  const start = output.search(/[[{]/);
  const end = Math.max(output.lastIndexOf('}'), output.lastIndexOf(']'));
  if (start === -1 || end < start) throw new Error(`no JSON in CLI output:\n${output}`);
  return JSON.parse(output.slice(start, end + 1)) as T;
}
