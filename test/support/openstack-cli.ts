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

/** The `openstack` CLI as the users of a Glimpse with the embedded identity log in. */
export interface EmbeddedCli<U extends string> {
  readonly credentials: (user: U) => Credentials;
  readonly os: (user: U, ...args: string[]) => Promise<CliResult>;
  /** The output of a command that must succeed (exit 0). */
  readonly ok: (result: Promise<CliResult>) => Promise<string>;
  /** The parsed `-f json` output of a command that must succeed. */
  readonly json: <T>(user: U, ...args: string[]) => Promise<T>;
}

/** `url` is read at each call, so the CLI follows a Glimpse that was restarted or started later. */
export function embeddedCli<U extends string>(
  url: () => string,
  users: Readonly<Record<U, { readonly password: string; readonly project: string }>>,
): EmbeddedCli<U> {
  const credentials = (user: U): Credentials => ({
    authUrl: `${url()}/identity/v3`,
    username: user,
    password: users[user].password,
    project: users[user].project,
  });
  const os = (user: U, ...args: string[]): Promise<CliResult> => runCli('openstack', credentials(user), args);
  const ok = async (result: Promise<CliResult>): Promise<string> => {
    const { code, stdout } = await result;
    if (code !== 0) throw new Error(`the CLI exited with ${code}:\n${stdout}`);
    return stdout;
  };
  return {
    credentials,
    os,
    ok,
    json: async <T>(user: U, ...args: string[]): Promise<T> => parseJsonOutput<T>(await ok(os(user, ...args, '-f', 'json'))),
  };
}
