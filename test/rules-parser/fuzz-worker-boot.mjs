// Worker entry: teaches this thread TypeScript (tsx), then runs fuzz-worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./fuzz-worker.ts');
