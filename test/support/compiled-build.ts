import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

let checked = false;

/**
 * The glimpse-api and glimpse-manage processes that tests and benchmarks start are the compiled
 * program in dist/ (bin/*.js), as users run it. A dist/ older than src/ would test yesterday's
 * code and pass, so this refuses: every src/**\/*.ts must have its .js in dist/, written after
 * it. `npm run build` (scripts/test.sh does) brings it up to date.
 */
export function requireFreshBuild(): void {
  if (checked) return;
  const src = resolve('src');
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const built = resolve('dist', relative(src, path).replace(/\.ts$/, '.js'));
        const builtAt = statSync(built, { throwIfNoEntry: false })?.mtimeMs ?? 0;
        if (builtAt < statSync(path).mtimeMs) stale.push(relative(resolve('.'), path));
      }
    }
  };
  walk(src);
  if (stale.length > 0) {
    throw new Error(`dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}: run \`npm run build\``);
  }
  checked = true;
}
