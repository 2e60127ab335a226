import { it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev257 } from '../helpers/reference.js';
import { copyAllRules, linkDir, startDevmasterNetns, waitProcessed, received } from './netns.js';
import { readFileSync, readdirSync } from 'node:fs';

it('scratch', async () => {
  const ref = referenceUdev257();
  const rules = mkdtempSync(join(tmpdir(), 'dm-r-'));
  copyAllRules(ref.rulesDir, rules, (f) => ['50-udev-default.rules', '75-net-description.rules', '80-net-setup-link.rules'].includes(f));
  const links = linkDir({ '10-a.link': '[Match]\nOriginalName=dmx0\n[Link]\nName=renamed0\nAlternativeName=alt-one alt-two\nMTUBytes=1400\nAlias=hello\nTransmitQueueLength=77\n', '99-default.link': readFileSync(join(ref.networkDir, '99-default.link'), 'utf8') });
  const d = await startDevmasterNetns({ rules, networkDir: links.dir });
  try {
    const r0 = await received(d.run);
    d.exec(['ip', 'link', 'add', 'dmx0', 'type', 'ifb']);
    d.exec(['ip', 'link', 'add', 'dmy0', 'type', 'veth', 'peer', 'name', 'dmy1']);
    await waitProcessed(d.run, r0, 4);
    console.log([...d.links().values()].map((l) => JSON.stringify(l)).join('\n'));
    for (const f of readdirSync(join(d.run, 'data'))) console.log(f, readFileSync(join(d.run, 'data', f), 'utf8'));
    console.log(d.ns.output());
  } finally {
    await d.stop();
    links.cleanup();
  }
}, 60_000);
