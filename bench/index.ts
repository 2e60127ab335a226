// `npm run bench`: runs every bench/*.bench.ts in name order. Each prints its own table of results
// (devMaster next to the reference, with ratios). Pass names to run a subset: npm run bench -- hwdb rules
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { main?: () => Promise<void> };
  if (mod.main) await mod.main();
}
