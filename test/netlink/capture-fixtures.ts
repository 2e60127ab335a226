// Captures real kernel uevent datagrams from this machine into fixtures/uevents/*.bin (run as root):
//   npx tsx test/netlink/capture-fixtures.ts
// Triggers: zram hot_add, change, hot_remove; an ifb network interface add/remove. Only datagrams for the
// devices it created are kept (other activity on the machine is ignored).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UeventSocket } from '../../src/netlink/kernel-socket.js';
import { REPO } from '../helpers/reference.js';

async function main(): Promise<void> {
  const out = join(REPO, 'fixtures', 'uevents');
  mkdirSync(out, { recursive: true });
  const sock = await UeventSocket.open();
  const got: { name: string; raw: Buffer }[] = [];
  let want: (devpath: string) => string | undefined = () => undefined;
  sock.on('uevent', (ev, raw) => {
    const tag = want(ev.devpath);
    if (tag) got.push({ name: `${ev.action}-${tag}`, raw });
  });
  const settle = () => new Promise((r) => setTimeout(r, 300));

  const id = readFileSync('/sys/class/zram-control/hot_add', 'utf8').trim();
  want = (p) => (p.endsWith(`/block/zram${id}`) ? 'zram' : p.includes(`/bdi/`) ? 'bdi' : undefined);
  await settle();
  writeFileSync(`/sys/block/zram${id}/uevent`, 'change');
  await settle();
  writeFileSync('/sys/class/zram-control/hot_remove', id);
  await settle();

  const ifname = `dmfx${process.pid % 10000}`;
  want = (p) => (p.endsWith(`/net/${ifname}`) ? 'ifb' : p.includes(`/queues/`) && p.includes(ifname) ? 'ifb-queue' : undefined);
  execFileSync('ip', ['link', 'add', ifname, 'type', 'ifb']);
  await settle();
  execFileSync('ip', ['link', 'del', ifname]);
  await settle();
  sock.close();

  const seen = new Map<string, number>();
  for (const { name, raw } of got) {
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    const file = join(out, `${name}${n > 1 ? `-${n}` : ''}.bin`);
    writeFileSync(file, raw);
    process.stdout.write(`${file}: ${raw.length} bytes\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
