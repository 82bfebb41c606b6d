// The bin entries run the compiled program in dist/ (made by `npm run build`, which `npm ci`
// runs as its prepare step): no TypeScript loader at run time.
import { existsSync } from 'node:fs';

/** Imports dist/cli/<name>.js, or says how to make it when it is missing. */
export async function runCompiled(name) {
  const entry = new URL(`../dist/cli/${name}.js`, import.meta.url);
  if (!existsSync(entry)) {
    console.error(`${name}: ${entry.pathname} is missing; run \`npm run build\` first (npm ci does it).`);
    process.exit(1);
  }
  await import(entry.href);
}
