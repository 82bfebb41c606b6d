import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';

/**
 * The layer rules of .dependency-cruiser.cjs (what scripts/test.sh runs as `npx depcruise src`):
 * the real tree passes, and a tree with a deliberate back-edge, a cycle or a folder the layers
 * do not name fails with the rule's name.
 */
const config = createRequire(import.meta.url)(resolve('.dependency-cruiser.cjs')) as IConfiguration;

/** The rules' findings over `baseDir`/src, and how many imports between src modules were resolved. */
async function cruiseTree(baseDir: string): Promise<{ violations: string[]; resolvedEdges: number }> {
  const reported = await cruise(['src'], {
    validate: true,
    ruleSet: { forbidden: config.forbidden ?? [] },
    baseDir,
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: join(process.cwd(), 'tsconfig.json') },
  });
  const output = reported.output as ICruiseResult;
  return {
    violations: output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`),
    resolvedEdges: output.modules.flatMap((m) => m.dependencies.filter((d) => d.resolved.startsWith('src/'))).length,
  };
}

async function violations(baseDir: string): Promise<string[]> {
  const { violations: found, resolvedEdges } = await cruiseTree(baseDir);
  assert.ok(resolvedEdges > 0, 'imports were resolved, so the rules had edges to judge');
  return found;
}

const trees: string[] = [];
/** A scratch tree of plain modules: file name → the relative imports it makes. */
function tree(files: Readonly<Record<string, readonly string[]>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-layers-'));
  trees.push(dir);
  for (const [file, imports] of Object.entries(files)) {
    const path = join(dir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${imports.map((i, n) => `import * as m${n} from '${i}';\nexport const u${n} = m${n};`).join('\n')}\nexport const here = '${file}';\n`);
  }
  return dir;
}

describe('layer rules (.dependency-cruiser.cjs)', () => {
  after(() => {
    for (const dir of trees) rmSync(dir, { recursive: true, force: true });
  });

  it('the source tree has no back-edge, no cycle and no unlisted folder', async () => {
    const { violations: found, resolvedEdges } = await cruiseTree(process.cwd());
    assert.deepEqual(found, []);
    assert.ok(resolvedEdges > 300, `TypeScript imports were resolved (${resolvedEdges} between src modules)`);
  });

  it('fails on a store importing the composition root', async () => {
    const dir = tree({ 'src/stores/driver.mjs': ['../server/settings.mjs'], 'src/server/settings.mjs': [] });
    assert.deepEqual(await violations(dir), ['no-upward-from-stores: src/stores/driver.mjs -> src/server/settings.mjs']);
  });

  it('fails on the config loader importing a domain', async () => {
    const dir = tree({ 'src/config/loader.mjs': ['../identity/users.mjs'], 'src/identity/users.mjs': [] });
    assert.deepEqual(await violations(dir), ['no-upward-from-config: src/config/loader.mjs -> src/identity/users.mjs']);
  });

  it('fails on a cycle, even inside one folder', async () => {
    const dir = tree({ 'src/images/a.mjs': ['./b.mjs'], 'src/images/b.mjs': ['./a.mjs'] });
    const found = await violations(dir);
    assert.ok(found.length > 0 && found.every((v) => v.startsWith('no-circular:')), found.join('\n'));
  });

  it('fails on a folder that has no layer yet', async () => {
    const dir = tree({ 'src/widgets/runner.mjs': ['../images/service.mjs'], 'src/images/service.mjs': [] });
    assert.deepEqual(await violations(dir), ['no-unlisted-folder: src/widgets/runner.mjs -> src/images/service.mjs']);
  });
});
