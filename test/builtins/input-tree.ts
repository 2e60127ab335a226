// Fake input devices with the capability bitmaps of real device classes, for input_id against udevadm.
import type { FakeDevice } from './tree.js';

/** A kernel-style bitmap text: 64-bit words in hex, most significant first, leading zero words dropped. */
export function bitmap(bits: Iterable<number>): string {
  const words: bigint[] = [];
  for (const b of bits) {
    const i = Math.floor(b / 64);
    while (words.length <= i) words.push(0n);
    words[i] = words[i]! | (1n << BigInt(b % 64));
  }
  if (words.length === 0) return '0';
  return words
    .reverse()
    .map((w) => w.toString(16))
    .join(' ');
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

// event types, axes, buttons
const EV_SYN = 0, EV_KEY = 1, EV_REL = 2, EV_ABS = 3, EV_MSC = 4, EV_SW = 5, EV_LED = 0x11;
const ABS_X = 0, ABS_Y = 1, ABS_Z = 2, ABS_RX = 3, ABS_PRESSURE = 0x18, ABS_MT_SLOT = 0x2f, ABS_MT_X = 0x35, ABS_MT_Y = 0x36;
const REL_X = 0, REL_Y = 1, REL_HWHEEL = 6, REL_WHEEL = 8;
const BTN_0 = 0x100, BTN_LEFT = 0x110, BTN_RIGHT = 0x111, BTN_MIDDLE = 0x112, BTN_TRIGGER = 0x120, BTN_A = 0x130;
const BTN_TOOL_PEN = 0x140, BTN_TOOL_FINGER = 0x145, BTN_TOUCH = 0x14a, BTN_STYLUS = 0x14b, BTN_DPAD_UP = 0x220, BTN_TRIGGER_HAPPY1 = 0x2c0;
const KEY_ESC = 1, KEY_A = 30, KEY_POWER = 116, KEY_OK = 0x160, KEY_ALS_TOGGLE = 0x230;
const PROP_DIRECT = 1, PROP_POINTING_STICK = 5, PROP_ACCELEROMETER = 6;
const BUS_USB = 0x03, BUS_I2C = 0x18, BUS_I8042 = 0x11;

interface Caps {
  ev: number[];
  key?: number[];
  rel?: number[];
  abs?: number[];
  props?: number[];
  bus?: number;
  /** Raw attribute text instead of the generated bitmap. */
  raw?: Partial<Record<'ev' | 'key' | 'rel' | 'abs' | 'properties', string>>;
}

let n = 0;
function input(name: string, c: Caps): FakeDevice[] {
  const i = n++;
  const dir = `/devices/virtual/input/input${i}`;
  const attrs: Record<string, string> = {
    name,
    'capabilities/ev': c.raw?.ev ?? bitmap(c.ev),
    'capabilities/key': c.raw?.key ?? bitmap(c.key ?? []),
    'capabilities/rel': c.raw?.rel ?? bitmap(c.rel ?? []),
    'capabilities/abs': c.raw?.abs ?? bitmap(c.abs ?? []),
    'capabilities/sw': '0',
    properties: c.raw?.properties ?? bitmap(c.props ?? []),
    'id/bustype': (c.bus ?? BUS_USB).toString(16).padStart(4, '0'),
    'id/vendor': '046d',
    'id/product': 'c52b',
    'id/version': '0111',
  };
  return [
    { devpath: dir, subsystem: 'input', attrs, uevent: { PRODUCT: `${c.bus ?? 3}/46d/c52b/111`, NAME: `"${name}"` } },
    { devpath: `${dir}/event${i}`, subsystem: 'input', uevent: { MAJOR: '13', MINOR: String(64 + i), DEVNAME: `input/event${i}` } },
  ];
}

/** Input devices keyed by what they should be; each is an inputN device plus its eventN child. */
export const INPUT_TREE: FakeDevice[] = [
  ...input('keyboard', { ev: [EV_SYN, EV_KEY, EV_MSC, EV_LED], key: [...range(1, 128), KEY_OK], bus: BUS_I8042 }),
  ...input('power button', { ev: [EV_SYN, EV_KEY], key: [KEY_POWER] }),
  ...input('mouse', { ev: [EV_SYN, EV_KEY, EV_REL], key: [BTN_LEFT, BTN_RIGHT, BTN_MIDDLE], rel: [REL_X, REL_Y, REL_WHEEL] }),
  ...input('i2c mouse', { ev: [EV_SYN, EV_KEY, EV_REL], key: [BTN_LEFT, BTN_RIGHT], rel: [REL_X, REL_Y], bus: BUS_I2C }),
  ...input('pointing stick', { ev: [EV_SYN, EV_KEY, EV_REL], key: [BTN_LEFT, BTN_RIGHT], rel: [REL_X, REL_Y], props: [PROP_POINTING_STICK] }),
  ...input('vmware abs mouse', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_LEFT, BTN_RIGHT], abs: [ABS_X, ABS_Y] }),
  ...input('touchpad', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_LEFT, BTN_TOOL_FINGER, BTN_TOUCH], abs: [ABS_X, ABS_Y, ABS_PRESSURE, ABS_MT_SLOT, ABS_MT_X, ABS_MT_Y] }),
  ...input('touchscreen', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_TOUCH], abs: [ABS_X, ABS_Y, ABS_MT_SLOT, ABS_MT_X, ABS_MT_Y], props: [PROP_DIRECT] }),
  ...input('mt-only touchscreen', { ev: [EV_SYN, EV_ABS], abs: [ABS_MT_SLOT, ABS_MT_X, ABS_MT_Y], props: [PROP_DIRECT] }),
  ...input('all abs axes', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_TOUCH], abs: range(0, 0x3f) }),
  ...input('tablet', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_TOOL_PEN, BTN_TOUCH, BTN_STYLUS], abs: [ABS_X, ABS_Y, ABS_PRESSURE] }),
  ...input('tablet pad', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_0, BTN_STYLUS], abs: [ABS_X, ABS_Y] }),
  ...input('joystick', { ev: [EV_SYN, EV_KEY, EV_ABS], key: range(BTN_TRIGGER, BTN_TRIGGER + 12), abs: [ABS_X, ABS_Y, ABS_Z, ABS_RX] }),
  ...input('gamepad', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [BTN_A, BTN_A + 1, BTN_DPAD_UP], abs: [ABS_X, ABS_Y] }),
  ...input('pedals', { ev: [EV_SYN, EV_ABS], abs: [ABS_RX] }),
  ...input('happy buttons', { ev: [EV_SYN, EV_KEY], key: [BTN_TRIGGER_HAPPY1 + 3] }),
  ...input('mouse with 17 buttons', { ev: [EV_SYN, EV_KEY, EV_REL], key: range(BTN_LEFT, BTN_TRIGGER + 1), rel: [REL_X, REL_Y] }),
  ...input('accelerometer', { ev: [EV_SYN, EV_ABS], abs: [ABS_X, ABS_Y, ABS_Z] }),
  ...input('accelerometer prop', { ev: [EV_SYN, EV_KEY, EV_ABS], key: [KEY_ESC], abs: [ABS_X, ABS_Y, ABS_Z], props: [PROP_ACCELEROMETER] }),
  ...input('scroll wheel', { ev: [EV_SYN, EV_REL], rel: [REL_HWHEEL] }),
  ...input('keyboard with joystick buttons', { ev: [EV_SYN, EV_KEY], key: [29, 58, 69, 110, BTN_TRIGGER, BTN_TRIGGER + 1] }),
  ...input('3 keys and joystick buttons', { ev: [EV_SYN, EV_KEY], key: [29, 58, 69, BTN_TRIGGER, BTN_TRIGGER + 1] }),
  ...input('lid switch', { ev: [EV_SYN, EV_SW] }),
  ...input('high keys', { ev: [EV_SYN, EV_KEY], key: [KEY_ALS_TOGGLE] }),
  ...input('buttons only', { ev: [EV_SYN, EV_KEY], key: [BTN_0] }),
  ...input('full first word', { ev: [EV_SYN, EV_KEY], key: range(KEY_ESC, KEY_A + 2) }),
  ...input('garbage words', { ev: [EV_SYN, EV_KEY], raw: { key: 'zz 1 fffffffffffffffff fffffffe', ev: '3' } }),
  ...input('too many words', { ev: [EV_KEY], raw: { key: Array.from({ length: 14 }, () => 'ffffffffffffffff').join(' '), ev: '0x3' } }),
  ...input('double space', { ev: [EV_KEY], raw: { key: 'fffffffe  0', ev: '3' } }),
  ...input('empty', { ev: [], raw: { ev: '', key: '' } }),
  // an input device without capabilities (only its child has them): not an input device
  { devpath: '/devices/virtual/misc/thing', subsystem: 'misc' },
];
