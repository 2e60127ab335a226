// input_id: classifies input devices (keyboard, mouse, touchpad, joystick, ...) from the capability bitmaps
// the kernel exports in sysfs (capabilities/ev, abs, rel, key and properties), as systemd-udevd's
// udev-builtin-input_id.c (version 252, with the joystick "un-detection" Debian's 252.39 carries from later
// systemd) does. For evdev nodes it also reads the absolute axes' resolution
// through the EVIOCGABS ioctl to give the size in millimetres.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import type { Device } from '../device/device.js';
import { devPath, type Roots } from '../device/roots.js';
import { splitDevT } from '../sys/devnum.js';
import type { Builtin, BuiltinContext } from './types.js';
import { absinfoSize, decodeAbsInfo, EVIOCGABS, ioctl, type AbsInfo } from '../sys/ioctl.js';
import { tryOr } from '../util/fs.js';

// linux/input-event-codes.h
const EV_KEY = 0x01;
const EV_REL = 0x02;
const EV_SW = 0x05;
const ABS_X = 0x00;
const ABS_Y = 0x01;
const ABS_Z = 0x02;
const ABS_RX = 0x03;
const ABS_PRESSURE = 0x18;
const ABS_MT_SLOT = 0x2f;
const ABS_MT_POSITION_X = 0x35;
const ABS_MT_POSITION_Y = 0x36;
const REL_X = 0x00;
const REL_Y = 0x01;
const REL_HWHEEL = 0x06;
const REL_WHEEL = 0x08;
const BTN_MISC = 0x100;
const BTN_0 = 0x100;
const BTN_MOUSE = 0x110;
const BTN_JOYSTICK = 0x120;
const BTN_DIGI = 0x140;
const BTN_TOOL_PEN = 0x140;
const BTN_TOOL_FINGER = 0x145;
const BTN_TOUCH = 0x14a;
const BTN_STYLUS = 0x14b;
const KEY_OK = 0x160;
const BTN_DPAD_UP = 0x220;
const BTN_DPAD_RIGHT = 0x223;
const KEY_ALS_TOGGLE = 0x230;
const BTN_TRIGGER_HAPPY1 = 0x2c0;
const BTN_TRIGGER_HAPPY40 = 0x2e7;
const INPUT_PROP_DIRECT = 0x01;
const INPUT_PROP_POINTING_STICK = 0x05;
const INPUT_PROP_ACCELEROMETER = 0x06;
const BUS_I2C = 0x18;
const EV_MAX = 0x1f;
const ABS_MAX = 0x3f;
const REL_MAX = 0x0f;
const KEY_MAX = 0x2ff;
const INPUT_PROP_MAX = 0x1f;

/** KEY_LEFTCTRL, KEY_CAPSLOCK, KEY_NUMLOCK, KEY_INSERT, KEY_MUTE, KEY_CALC, KEY_FILE, KEY_MAIL, KEY_PLAYPAUSE, KEY_BRIGHTNESSDOWN */
const WELL_KNOWN_KEYBOARD_KEYS = [29, 58, 69, 110, 113, 140, 144, 155, 164, 224];

/** The kernel prints capability bitmaps in words of its unsigned long: 64 bits on the platforms we run on. */
const BITS_PER_LONG = 64;
const nlongs = (max: number) => Math.floor((max - 1) / BITS_PER_LONG) + 1;

/** Key code ranges above BTN_MISC that count as keys (start inclusive, end exclusive). */
const HIGH_KEY_BLOCKS: Array<[number, number]> = [
  [KEY_OK, BTN_DPAD_UP],
  [KEY_ALS_TOGGLE, BTN_TRIGGER_HAPPY1],
];

/** A capability bitmap: 64-bit words, word 0 holding bits 0..63. */
export class Bitmap {
  constructor(readonly words: bigint[]) {}
  test(bit: number): boolean {
    const w = this.words[Math.floor(bit / BITS_PER_LONG)];
    return w !== undefined && ((w >> BigInt(bit % BITS_PER_LONG)) & 1n) === 1n;
  }
  /** How many bits in [from, to) are set. */
  count(from: number, to: number): number {
    let n = 0;
    for (let b = from; b < to; b++) if (this.test(b)) n++;
    return n;
  }
  /** True when any bit in [from, to) is set. */
  any(from: number, to: number): boolean {
    for (let b = from; b < to; b++) if (this.test(b)) return true;
    return false;
  }
}

/** strtoul(s, 16) as safe_atolu_full accepts it: optional white space and 0x, hex digits only, 64-bit. */
function parseHexLong(s: string): bigint | undefined {
  const m = /^\s*\+?(?:0[xX])?([0-9a-fA-F]+)$/.exec(s);
  if (!m) return undefined;
  const v = BigInt('0x' + m[1]);
  return v <= 0xffffffffffffffffn ? v : undefined;
}

/**
 * Parses a sysfs capability attribute ("1f 0 ffff": the most significant word first, words separated by
 * spaces) into `size` words. A word that does not parse stays 0; words beyond the size are ignored.
 */
export function parseCapabilities(text: string | undefined, size: number): Bitmap {
  const words: bigint[] = new Array<bigint>(size).fill(0n);
  const parts = (text ?? '').split(' ');
  parts.reverse().forEach((p, i) => {
    const v = parseHexLong(p);
    if (v !== undefined && i < size) words[i] = v;
  });
  return new Bitmap(words);
}

interface InputId {
  bustype: number;
}

/** safe_atoux16: a hex number up to 0xffff, or 0 when it does not parse. */
function hex16(s: string | undefined): number {
  if (s === undefined) return 0;
  const m = /^\s*(?:0[xX])?([0-9a-fA-F]+)$/.exec(s);
  if (!m) return 0;
  const v = parseInt(m[1]!, 16);
  return v <= 0xffff ? v : 0;
}

interface Caps {
  ev: Bitmap;
  abs: Bitmap;
  rel: Bitmap;
  key: Bitmap;
  props: Bitmap;
}

type Emit = (name: string) => void;

/** Pointer devices; returns true when the device is one. */
function testPointers(id: InputId, c: Caps, emit: Emit): boolean {
  const hasKeys = c.ev.test(EV_KEY);
  const hasAbsCoordinates = c.abs.test(ABS_X) && c.abs.test(ABS_Y);
  const has3dCoordinates = hasAbsCoordinates && c.abs.test(ABS_Z);
  // a device with 3 absolute axes and no keys is an accelerometer too
  if (c.props.test(INPUT_PROP_ACCELEROMETER) || (!hasKeys && has3dCoordinates)) {
    emit('ID_INPUT_ACCELEROMETER');
    return true;
  }
  let isPointingStick = c.props.test(INPUT_PROP_POINTING_STICK);
  const hasStylus = c.key.test(BTN_STYLUS);
  const hasPen = c.key.test(BTN_TOOL_PEN);
  const fingerButNoPen = c.key.test(BTN_TOOL_FINGER) && !c.key.test(BTN_TOOL_PEN);
  const hasMouseButton = c.key.any(BTN_MOUSE, BTN_JOYSTICK);
  const hasRelCoordinates = c.ev.test(EV_REL) && c.rel.test(REL_X) && c.rel.test(REL_Y);
  let hasMtCoordinates = c.abs.test(ABS_MT_POSITION_X) && c.abs.test(ABS_MT_POSITION_Y);
  // a device claiming every abs axis is not really multi-touch
  if (hasMtCoordinates && c.abs.test(ABS_MT_SLOT) && c.abs.test(ABS_MT_SLOT - 1)) hasMtCoordinates = false;
  const isDirect = c.props.test(INPUT_PROP_DIRECT);
  const hasTouch = c.key.test(BTN_TOUCH);
  const hasPadButtons = c.key.test(BTN_0) && hasStylus && !hasPen;

  // Joysticks may have axes only, or buttons only. A mouse with more than 16 buttons runs into the
  // joystick range: its buttons do not count.
  let joystickButtons = 0;
  if (!c.key.test(BTN_JOYSTICK - 1)) {
    joystickButtons = c.key.count(BTN_JOYSTICK, BTN_DIGI) + c.key.count(BTN_TRIGGER_HAPPY1, BTN_TRIGGER_HAPPY40 + 1) + c.key.count(BTN_DPAD_UP, BTN_DPAD_RIGHT + 1);
  }
  const joystickAxes = c.abs.count(ABS_RX, ABS_PRESSURE);
  const hasJoystickAxesOrButtons = joystickButtons > 0 || joystickAxes > 0;

  let isTablet = false;
  let isTouchpad = false;
  let isMouse = false;
  let isTouchscreen = false;
  let isJoystick = false;
  if (hasAbsCoordinates) {
    if (hasStylus || hasPen) isTablet = true;
    else if (fingerButNoPen && !isDirect) isTouchpad = true;
    else if (hasMouseButton) isMouse = true; // e.g. VMware's USB mouse: absolute axes, no touch button
    else if (hasTouch || isDirect) isTouchscreen = true;
    else if (hasJoystickAxesOrButtons) isJoystick = true;
  } else if (hasJoystickAxesOrButtons) {
    isJoystick = true;
  }
  if (hasMtCoordinates) {
    if (hasStylus || hasPen) isTablet = true;
    else if (fingerButNoPen && !isDirect) isTouchpad = true;
    else if (hasTouch || isDirect) isTouchscreen = true;
  }
  const isTabletPad = isTablet && hasPadButtons;
  // mouse buttons and relative axes, or mouse buttons and no axes at all
  if (!isTablet && !isTouchpad && !isJoystick && hasMouseButton && (hasRelCoordinates || !hasAbsCoordinates)) isMouse = true;
  // there is no such thing as an I2C mouse
  if (isMouse && id.bustype === BUS_I2C) isPointingStick = true;
  // Some keyboards have random joystick buttons: several well-known keyboard keys, or fewer than two
  // joystick buttons and axes in all, mean it is no joystick (Debian's 252 has this from later systemd).
  if (isJoystick) {
    const wellKnown = hasKeys ? WELL_KNOWN_KEYBOARD_KEYS.filter((k) => c.key.test(k)).length : 0;
    if (wellKnown >= 4 || joystickButtons + joystickAxes < 2) isJoystick = false;
  }

  if (isPointingStick) emit('ID_INPUT_POINTINGSTICK');
  if (isMouse) emit('ID_INPUT_MOUSE');
  if (isTouchpad) emit('ID_INPUT_TOUCHPAD');
  if (isTouchscreen) emit('ID_INPUT_TOUCHSCREEN');
  if (isJoystick) emit('ID_INPUT_JOYSTICK');
  if (isTablet) emit('ID_INPUT_TABLET');
  if (isTabletPad) emit('ID_INPUT_TABLET_PAD');
  return isTablet || isMouse || isTouchpad || isTouchscreen || isJoystick || isPointingStick;
}

/** Key-like devices; returns true when the device is one. */
function testKey(c: Caps, emit: Emit): boolean {
  if (!c.ev.test(EV_KEY)) return false;
  // KEY_* only, not BTN_*: the words below BTN_MISC, then the high key ranges
  let found = c.key.words.slice(0, BTN_MISC / BITS_PER_LONG).some((w) => w !== 0n);
  for (const [from, to] of HIGH_KEY_BLOCKS) if (!found) found = c.key.any(from, to);
  if (found) emit('ID_INPUT_KEY');
  // the first 32 bits are ESC, the digits and Q to D: all of them (but KEY_RESERVED) make a full keyboard
  if ((c.key.words[0]! & 0xfffffffen) === 0xfffffffen) {
    emit('ID_INPUT_KEYBOARD');
    return true;
  }
  return found;
}

/** The struct input_absinfo of one axis (EVIOCGABS), or undefined. */
function readAbsInfo(fd: number, axis: number): AbsInfo | undefined {
  const buf = Buffer.alloc(absinfoSize());
  if (ioctl(fd, EVIOCGABS(axis), buf) < 0) return undefined;
  return decodeAbsInfo(buf);
}

/** Size in mm of an axis whose resolution is in units per mm (integer division, as C). */
export function absSizeMm(a: { minimum: number; maximum: number; resolution: number }): number {
  return Math.trunc((a.maximum - a.minimum) / a.resolution);
}

/**
 * Opens the device node read-only like sd_device_open: the node must be a character device with the
 * device's number. Returns the fd or undefined.
 */
function openNode(roots: Roots, dev: Device): number | undefined {
  const name = dev.devname;
  const num = dev.devnum;
  if (!name || !num) return undefined;
  // a node that cannot be opened (gone, not permitted, ...) gives no size
  const fd = tryOr(() => openSync(devPath(roots, name), constants.O_RDONLY | constants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */), undefined);
  if (fd === undefined) return undefined;
  const st = fstatSync(fd);
  const n = splitDevT(st.rdev);
  if (st.isCharacterDevice() && n.major === num.major && n.minor === num.minor) return fd;
  closeSync(fd); // not the device's node
  return undefined;
}

/** ID_INPUT_WIDTH_MM / ID_INPUT_HEIGHT_MM from the evdev node's ABS_X / ABS_Y resolution. */
function extractSize(roots: Roots, dev: Device, set: (k: string, v: string) => void): void {
  const fd = openNode(roots, dev);
  if (fd === undefined) return;
  try {
    const x = readAbsInfo(fd, ABS_X);
    const y = x && readAbsInfo(fd, ABS_Y);
    if (!x || !y || x.resolution <= 0 || y.resolution <= 0) return;
    set('ID_INPUT_WIDTH_MM', String(absSizeMm(x)));
    set('ID_INPUT_HEIGHT_MM', String(absSizeMm(y)));
  } finally {
    closeSync(fd);
  }
}

/** The input device carrying the capabilities: the device itself or its closest "input" ancestor that has them. */
function findInputDevice(dev: Device): Device | undefined {
  for (let d: Device | undefined = dev; d; d = d.parentWithSubsystemDevtype('input')) {
    if (d.sysattr('capabilities/ev') !== undefined) return d;
  }
  return undefined;
}

/** Computes the properties (in udev's order) for a device. */
export function inputProperties(roots: Roots, dev: Device, readNode = true): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const set = (k: string, v: string) => out.push([k, v]);
  const emit: Emit = (k) => set(k, '1');
  const p = findInputDevice(dev);
  if (p) {
    const id: InputId = { bustype: hex16(p.sysattr('id/bustype')) };
    // used as a flag that input devices were detected
    emit('ID_INPUT');
    const caps: Caps = {
      ev: parseCapabilities(p.sysattr('capabilities/ev'), nlongs(EV_MAX)),
      abs: parseCapabilities(p.sysattr('capabilities/abs'), nlongs(ABS_MAX)),
      rel: parseCapabilities(p.sysattr('capabilities/rel'), nlongs(REL_MAX)),
      key: parseCapabilities(p.sysattr('capabilities/key'), nlongs(KEY_MAX)),
      props: parseCapabilities(p.sysattr('properties'), nlongs(INPUT_PROP_MAX)),
    };
    const isPointer = testPointers(id, caps, emit);
    const isKey = testKey(caps, emit);
    // some evdev nodes have only a scroll wheel
    if (!isPointer && !isKey && caps.ev.test(EV_REL) && (caps.rel.test(REL_WHEEL) || caps.rel.test(REL_HWHEEL))) emit('ID_INPUT_KEY');
    if (caps.ev.test(EV_SW)) emit('ID_INPUT_SWITCH');
  }
  if (readNode && dev.sysname.startsWith('event')) extractSize(roots, dev, set);
  return out;
}

const inputId: Builtin = {
  name: 'input_id',
  help: 'Input device properties',
  run(ctx: BuiltinContext): boolean {
    for (const [k, v] of inputProperties(ctx.roots, ctx.device)) ctx.setProperty(k, v);
    return true;
  },
};

export default inputId;
