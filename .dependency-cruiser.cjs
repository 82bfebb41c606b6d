/**
 * Layers point one way: a folder of src/ imports only from its own layer or the layers below it,
 * and nothing imports in a cycle. `npx depcruise src` (run by scripts/test.sh) fails on a new
 * back-edge; test/unit/architecture/dependency-rules.test.ts shows it does.
 *
 * From the bottom up (README "Layout"):
 */
const LAYERS = [
  // Vocabulary every layer may use: domain errors, the ports services are given, native code.
  ['errors', 'ports', 'native'],
  // Configuration files, pooled buffers.
  ['config', 'buffers'],
  // The database and what coordinates nodes through it, the policy engine, the request context.
  ['db', 'policy', 'auth', 'hashing'],
  ['coordination'],
  // Stores, identity, the key manager, fetching from URLs others name (web-download).
  ['stores', 'identity', 'keymanager', 'fetching'],
  // Signatures, and what sends a local file's bytes fast (sendfile, O_DIRECT reads).
  ['signing', 'transfer'],
  // The image domain: services, repository, state machine.
  ['images'],
  // Tasks (durable jobs) and the interoperable import that runs as tasks, with its plugins.
  ['tasks'],
  ['imports'],
  // What builds on images: property protections, maintenance, discovery.
  ['protections', 'maintenance'],
  ['info'],
  // HTTP routes, then the composition root, then the entry points.
  ['http'],
  ['server'],
  ['cli'],
];

const folders = (layers) => layers.flat().join('|');

const upwardRules = LAYERS.slice(0, -1).map((layer, index) => ({
  // Named by the layer's first folder, so adding a folder to a layer keeps the name.
  name: `no-upward-from-${layer[0]}`,
  comment: `${layer.join(', ')} may not import the layers above it (${folders(LAYERS.slice(index + 1))})`,
  severity: 'error',
  from: { path: `^src/(${layer.join('|')})/` },
  to: { path: `^src/(${folders(LAYERS.slice(index + 1))})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upwardRules,
    {
      name: 'no-circular',
      comment: 'Modules must not depend on each other in a cycle.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'fastify-only-in-http',
      comment: 'Only the HTTP layer and the composition root know Fastify; services take src/ports.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(http|server|cli)/' },
      to: { path: 'node_modules/fastify/' },
    },
    {
      name: 'no-unlisted-folder',
      comment: 'Every folder of src/ has a place in the LAYERS of .dependency-cruiser.cjs.',
      severity: 'error',
      from: { path: `^src/(?!(${folders(LAYERS)})/)` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/.*\\.d\\.ts$' },
  },
};
