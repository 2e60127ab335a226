// keyboard: this VM has no input devices and no uinput, so the evdev ioctls are checked by their encoding and
// by their errors on a stand-in node (a char device 1:3, /dev/null, where every evdev ioctl fails with ENOTTY).
// What is observable without evdev — which entries are parsed or skipped, the serio parent's force_release
// list and pointing-stick sensitivity, success or failure — is compared with Debian's `udevadm test-builtin
// keyboard` on a fake sysfs (udevadm in a private mount namespace with the tree on /sys and a tmpfs /dev).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger, type LogLine } from '../helpers/log-capture.js';
import type { Logger } from '../../src/log.js';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import keyboard, {
  applyAbsOverride,
  forceReleaseList,
  keyCodeByName,
  keyNameCount,
} from '../../src/builtins/keyboard.js';
import { EVIOCGABS, EVIOCGBIT_EV, EVIOCSABS, EVIOCSKEYCODE, decodeAbsInfo, encodeAbsInfo, encodeKeymap } from '../../src/sys/ioctl.js';
import { getBuiltin } from '../../src/builtins/registry.js';
import { Device } from '../../src/device/device.js';
import type { Roots } from '../../src/device/roots.js';
import { mknod } from '../../src/sys/file.js';
import { referenceUdev } from '../helpers/reference.js';
import { buildSysfs, type FakeDevice } from './tree.js';

/** One scenario: a serio port with an input device and its event node carrying the given properties. */
interface Scenario {
  name: string;
  props: Record<string, string>;
  serioAttrs?: Record<string, string>;
  /** No node under /dev for this one. */
  noNode?: boolean;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'keys',
    props: {
      KEYBOARD_KEY_1e: '!a',
      KEYBOARD_KEY_30: '!',
      KEYBOARD_KEY_zz: '!b', // not hex: skipped, not released
      KEYBOARD_KEY_0x31: '!volumeup',
      KEYBOARD_KEY_: '!x', // empty scan code: skipped
      'KEYBOARD_KEY_-1': '!y', // negative: skipped
      KEYBOARD_KEY_33: '!nosuchkey', // released, but the key name is unknown
      KEYBOARD_KEY_A0: '0x71',
      KEYBOARD_KEY_ffffffff: '!key_mute',
      KEYBOARD_KEY_100000000: '!mute', // too big: skipped
    },
    serioAttrs: { force_release: '1,2' },
  },
  { name: 'release-only', props: { KEYBOARD_KEY_e008: '!', KEYBOARD_KEY_e009: '!' }, serioAttrs: { force_release: '' } },
  { name: 'sens-hex', props: { POINTINGSTICK_SENSITIVITY: '0x80' }, serioAttrs: { sensitivity: '9' } },
  { name: 'sens-range', props: { POINTINGSTICK_SENSITIVITY: '300' }, serioAttrs: { sensitivity: '9' } },
  { name: 'sens-binary', props: { POINTINGSTICK_SENSITIVITY: '0b101' }, serioAttrs: { sensitivity: '9' } },
  { name: 'sens-space', props: { POINTINGSTICK_SENSITIVITY: ' 7' }, serioAttrs: { sensitivity: '9' } },
  { name: 'sens-bad', props: { POINTINGSTICK_SENSITIVITY: '12abc' }, serioAttrs: { sensitivity: '9' } },
  { name: 'abs', props: { EVDEV_ABS_00: '1:2:3' } }, // EVIOCGBIT fails on the stand-in node: the builtin fails
  { name: 'abs-bad-code', props: { EVDEV_ABS_xy: '1:2' } },
  { name: 'nothing', props: {} },
  { name: 'no-node', props: { KEYBOARD_KEY_1e: 'a' }, noNode: true },
  { name: 'no-node-release-only', props: { KEYBOARD_KEY_1e: '!' }, serioAttrs: { force_release: '5' }, noNode: true },
];

function devices(): FakeDevice[] {
  return SCENARIOS.flatMap((s, i): FakeDevice[] => {
    const serio = `/devices/platform/i8042/serio${i}`;
    const input = `${serio}/input/input${i}`;
    return [
      { devpath: '/devices/platform/i8042', subsystem: 'platform' },
      { devpath: serio, subsystem: 'serio', attrs: s.serioAttrs ?? {} },
      { devpath: input, subsystem: 'input', kind: 'class' },
      { devpath: `${input}/event${i}`, subsystem: 'input', kind: 'class', uevent: { MAJOR: '1', MINOR: '3', DEVNAME: `input/event${i}`, ...s.props } },
    ];
  });
}

const eventPath = (i: number) => `/devices/platform/i8042/serio${i}/input/input${i}/event${i}`;

/** The serio attributes of every scenario after a run. */
function serioState(sysfs: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  SCENARIOS.forEach((s, i) => {
    out[s.name] = {};
    for (const a of Object.keys(s.serioAttrs ?? {})) out[s.name]![a] = readFileSync(join(sysfs, `/devices/platform/i8042/serio${i}`, a), 'utf8').replace(/\n$/, '');
  });
  return out;
}

/** A logger that keeps its lines. */
function capture(): { log: Logger; lines: LogLine[] } {
  const { logger, lines } = captureLogger();
  return { log: logger, lines };
}

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'dm-keyboard-'));
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('keyboard against udevadm test-builtin on a fake serio keyboard', () => {
  it('skips, releases, writes and fails exactly where udevadm does', async () => {
    // (attribute files start one character long: udev writes "5\n" into a plain file without truncating it)
    const refRoots = buildSysfs(join(base, 'ref'), devices());
    const ourRoots: Roots = buildSysfs(join(base, 'ours'), devices());
    // udevadm: private mount namespace, tree on /sys, tmpfs /dev with the stand-in nodes
    const nodes = SCENARIOS.map((s, i) => (s.noNode ? '' : `mknod /dev/input/event${i} c 1 3;`)).join(' ');
    const runs = SCENARIOS.map((_, i) => `SYSTEMD_DEVICE_VERIFY_SYSFS=0 SYSTEMD_LOG_LEVEL=err "$1" test-builtin keyboard /sys${eventPath(i)} >/dev/null 2>&1; echo "rc $?"`).join('; ');
    const out = execFileSync('unshare', ['-m', 'sh', '-c', `mount --bind "$0" /sys && mount -t tmpfs none /dev && mkdir /dev/input && ${nodes} ${runs}`, refRoots.sysfs, referenceUdev().udevadm], {
      encoding: 'utf8',
    });
    const refOk = out.trim().split('\n').map((l) => l === 'rc 0');
    expect(refOk.length).toBe(SCENARIOS.length);

    mkdirSync(join(ourRoots.dev, 'input'), { recursive: true });
    SCENARIOS.forEach((s, i) => {
      if (!s.noNode) mknod(join(ourRoots.dev, 'input', `event${i}`), 'c', 0o600, 1, 3);
    });
    const b = (await getBuiltin('keyboard'))!;
    const ourOk: boolean[] = [];
    for (let i = 0; i < SCENARIOS.length; i++) {
      const dev = Device.fromDevpath(ourRoots, eventPath(i));
      ourOk.push(await b.run({ device: dev, action: 'add', roots: ourRoots, test: false, log: pino({ level: 'silent' }), setProperty: () => {} }, ['keyboard']));
    }
    const names = SCENARIOS.map((s) => s.name);
    expect(Object.fromEntries(names.map((n, i) => [n, ourOk[i]]))).toEqual(Object.fromEntries(names.map((n, i) => [n, refOk[i]])));
    expect(serioState(ourRoots.sysfs)).toEqual(serioState(refRoots.sysfs));
    // and what that is, from the C code
    expect(serioState(ourRoots.sysfs)).toMatchObject({
      keys: { force_release: '1,2,30,48,49,51,4294967295' },
      'release-only': { force_release: ',57352,57353' },
      'sens-hex': { sensitivity: '128' },
      'sens-range': { sensitivity: '9' },
      'sens-binary': { sensitivity: '5' },
      'sens-space': { sensitivity: '7' },
      'sens-bad': { sensitivity: '9' },
      'no-node-release-only': { force_release: '5,30' },
    });
    expect(ourOk).toEqual(SCENARIOS.map((s) => !['abs', 'no-node'].includes(s.name)));
  }, 60_000);

  it('in test mode opens nothing and writes nothing, and logs what it would do', async () => {
    const roots = buildSysfs(join(base, 'testmode'), devices());
    const before = serioState(roots.sysfs);
    const { log, lines } = capture();
    for (let i = 0; i < SCENARIOS.length; i++) {
      const dev = Device.fromDevpath(roots, eventPath(i));
      expect(await keyboard.run({ device: dev, action: 'add', roots, test: true, log, setProperty: () => {} }, ['keyboard'])).toBe(true);
    }
    expect(serioState(roots.sysfs)).toEqual(before);
    const msgs = lines.map((l) => l.msg);
    expect(msgs).toContain('event0: keyboard: test mode, not mapping scan code 30 (0x1e) to key code 30 (0x1e)');
    expect(msgs).toContain('event0: keyboard: test mode, not mapping scan code 49 (0x31) to key code 115 (0x73)');
    expect(msgs).toContain("event0: keyboard: failed to parse key identifier 'nosuchkey'");
    expect(msgs).toContain('event0: keyboard: failed to parse scan code from "KEYBOARD_KEY_zz", ignoring');
    expect(msgs).toContain("serio0: keyboard: test mode, not updating the force-release list with '1,2,30,48,49,51,4294967295'");
    expect(msgs).toContain('event7: keyboard: test mode, not overriding axis 0 with \'1:2:3\'');
    expect(msgs).toContain('event3: keyboard: POINTINGSTICK_SENSITIVITY 300 outside range [0..255]');
  });

  it('logs the failed ioctl on a node that is not evdev and carries on', async () => {
    const roots = buildSysfs(join(base, 'ioctl'), devices());
    mkdirSync(join(roots.dev, 'input'), { recursive: true });
    mknod(join(roots.dev, 'input', 'event0'), 'c', 0o600, 1, 3);
    const { log, lines } = capture();
    const dev = Device.fromDevpath(roots, eventPath(0));
    expect(await keyboard.run({ device: dev, action: 'add', roots, test: false, log, setProperty: () => {} }, ['keyboard'])).toBe(true);
    const errors = lines.filter((l) => l.level === 50).map((l) => l.msg);
    expect(errors).toContain('event0: keyboard: EVIOCSKEYCODE with scan code 0x1e and key code 30 failed: ENOTTY');
    expect(errors).toContain('event0: keyboard: EVIOCSKEYCODE with scan code 0xa0 and key code 113 failed: ENOTTY');
  });
});

describe('keyboard parsing and ioctl encoding', () => {
  it('knows every KEY_/BTN_ name systemd\'s generator takes from <linux/input.h>, with the same codes', () => {
    // the same selection as generate-keyboard-keys-list.sh, from this machine's headers when present
    let header = '';
    try {
      header = execFileSync('gcc', ['-E', '-dM', '-include', 'linux/input.h', '-'], { input: '', encoding: 'utf8' });
    } catch {
      header = readFileSync('/usr/include/linux/input-event-codes.h', 'utf8');
    }
    const defs = new Map<string, string>();
    for (const l of header.split('\n')) {
      const m = /^#define\s+(\S+)\s+(.*?)\s*(\/\*.*)?$/.exec(l);
      if (m) defs.set(m[1]!, m[2]!);
    }
    const value = (n: string): number => {
      const v = defs.get(n)!;
      return /^(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : value(v);
    };
    let n = 0;
    for (const l of header.split('\n')) {
      if (/\bKEY_(MAX|MIN_INTERESTING)/.test(l) || /BTN_(MISC|MOUSE|JOYSTICK|GAMEPAD|DIGI|WHEEL|TRIGGER_HAPPY)\b/.test(l)) continue;
      const m = /^#define[ \t]+((KEY|BTN)_[^ \t]+)[ \t]+[0-9BK]/.exec(l);
      if (!m) continue;
      const name = m[1]!;
      const code = value(name);
      if (name.startsWith('KEY_')) {
        expect(keyCodeByName(name.slice(4).toLowerCase()), name).toBe(code);
        expect(keyCodeByName(name.toLowerCase()), name).toBe(code);
        n += 2;
      } else {
        expect(keyCodeByName(name.toLowerCase()), name).toBe(code);
        n += 1;
      }
    }
    expect(n).toBeGreaterThan(1000);
    expect(keyNameCount()).toBeGreaterThanOrEqual(n);
    expect([keyCodeByName('mute'), keyCodeByName('key_mute'), keyCodeByName('btn_left'), keyCodeByName('1'), keyCodeByName('hanguel')]).toEqual([113, 113, 0x110, 2, 122]);
    expect([keyCodeByName('MUTE'), keyCodeByName('max'), keyCodeByName('btn_misc'), keyCodeByName('btn_trigger_happy'), keyCodeByName('cnt')]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(keyCodeByName('btn_trigger_happy1')).toBe(0x2c0);
  });

  it('applies EVDEV_ABS overrides field by field like parse_token()', () => {
    const cur = { value: 5, minimum: 0, maximum: 100, fuzz: 1, flat: 2, resolution: 3 };
    expect(applyAbsOverride(cur, '10:200:40:4:8')).toEqual({ value: 5, minimum: 10, maximum: 200, resolution: 40, fuzz: 4, flat: 8 });
    expect(applyAbsOverride(cur, '::12')).toEqual({ ...cur, resolution: 12 });
    expect(applyAbsOverride(cur, '-5:0x10')).toEqual({ ...cur, minimum: -5, maximum: 16 });
    expect(applyAbsOverride(cur, '')).toEqual(cur);
    expect(applyAbsOverride(cur, '1:2:3:4:5:6')).toEqual({ ...cur, minimum: 1, maximum: 2, resolution: 3, fuzz: 4, flat: 5 }); // the rest is ignored
    expect(applyAbsOverride(cur, '4294967297')).toEqual({ ...cur, minimum: 1 }); // long stored into int32_t
    expect(applyAbsOverride(cur, '1;2')).toBeUndefined();
    expect(applyAbsOverride(cur, 'x')).toBeUndefined();
  });

  it('encodes the evdev requests and arguments as <linux/input.h>', () => {
    expect(EVIOCSKEYCODE()).toBe(0x40084504);
    expect(EVIOCGBIT_EV()).toBe(0x80084520);
    expect(EVIOCGABS(0)).toBe(0x80184540);
    expect(EVIOCGABS(0x35)).toBe(0x80184575); // ABS_MT_POSITION_X
    expect(EVIOCSABS(0)).toBe(0x401845c0);
    expect(EVIOCSABS(0x3f)).toBe(0x401845ff);
    expect([...encodeKeymap(0x1e, 30)]).toEqual([0x1e, 0, 0, 0, 30, 0, 0, 0]);
    expect([...encodeKeymap(0xffffffff, 0x2c0)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xc0, 0x02, 0, 0]);
    const abs = { value: -1, minimum: 2, maximum: 3, fuzz: 4, flat: 5, resolution: 6 };
    const buf = encodeAbsInfo(abs);
    expect(buf.length).toBe(24);
    expect(buf.readInt32LE(0)).toBe(-1);
    expect(buf.readInt32LE(20)).toBe(6);
    expect(decodeAbsInfo(buf)).toEqual(abs);
  });

  it('builds the force_release list as the C code', () => {
    expect(forceReleaseList('', [1, 2])).toBe(',1,2');
    expect(forceReleaseList('7', [30])).toBe('7,30');
    expect(forceReleaseList('1'.repeat(4094), [30]).length).toBe(4095);
  });

  it('fails without a device node', async () => {
    const roots = buildSysfs(join(base, 'nonode'), [{ devpath: '/devices/virtual/input/input9', subsystem: 'input', kind: 'class', uevent: { KEYBOARD_KEY_1e: 'a' } }]);
    const { log, lines } = capture();
    expect(await keyboard.run({ device: Device.fromDevpath(roots, '/devices/virtual/input/input9'), action: 'add', roots, test: true, log, setProperty: () => {} }, ['keyboard'])).toBe(false);
    expect(lines.map((l) => l.msg)).toEqual(['input9: keyboard: failed to get device name']);
  });
});
