// A worker thread does not inherit the TypeScript loader the main thread registered (bin/*.js
// or `node --import tsx`), so the thread registers its own before it loads hash-worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./hash-worker.ts');
