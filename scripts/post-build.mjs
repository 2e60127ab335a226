// Makes the two executables runnable after `npm run build`.
import { chmodSync, existsSync } from 'node:fs';
for (const f of ['dist/cli/devmaster.js', 'dist/cli/devctl.js']) if (existsSync(f)) chmodSync(f, 0o755);
