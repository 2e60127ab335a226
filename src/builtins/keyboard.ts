// keyboard: applies the hwdb's keyboard and evdev settings to an input device, as systemd-udevd's
// udev-builtin-keyboard.c (version 252) does with the device's properties (set by 60-evdev.rules and
// 60-keyboard.rules from the hwdb):
//
//   KEYBOARD_KEY_<hex scan code>=<key name or number>   EVIOCSKEYCODE on the evdev node; a leading '!' also
//                                                      adds the scan code to the serio parent's force_release
//   EVDEV_ABS_<hex axis>=<min>:<max>:<res>:<fuzz>:<flat> EVIOCGABS/EVIOCSABS (empty fields keep the kernel's)
//   POINTINGSTICK_SENSITIVITY=<0..255>                  the serio parent's "sensitivity" attribute
//
// Key names are those of <linux/input-event-codes.h> in lower case, with or without "key_" (e.g. "mute",
// "key_mute", "btn_left"). Bad entries are logged and skipped; the builtin fails only when the device node
// cannot be opened or its event types cannot be read. In test mode nothing is done: no ioctl, no attribute
// written, only logged.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { errnoName } from '../sys/errno.js';
import { type Device } from '../device/device.js';
import { splitDevT } from '../sys/devnum.js';
import { devPath } from '../device/roots.js';
import type { Builtin, BuiltinContext } from './types.js';
import { absinfoSize, decodeAbsInfo, encodeAbsInfo, encodeKeymap, EVIOCGABS, EVIOCGBIT_EV, EVIOCSABS, EVIOCSKEYCODE, ioctl, type AbsInfo } from '../sys/ioctl.js';
import { errno } from '../sys/libc.js';
import { numberOrUndefined, safeAtoi, safeAtou, strtol } from '../util/cnum.js';

// ------------------------------------------------------------------ key names

/**
 * KEY_* (without the prefix) and BTN_* names with their codes (hex), as systemd's
 * generate-keyboard-keys-list.sh selects them from Linux 6.1's <linux/input.h> (Debian 12's headers, which
 * Debian's udev 252 was built with); aliases such as KEY_HANGUEL are included.
 */
const KEY_TABLE = `
RESERVED=0 ESC=1 1=2 2=3 3=4 4=5 5=6 6=7 7=8 8=9 9=a 0=b MINUS=c EQUAL=d BACKSPACE=e TAB=f Q=10 W=11 E=12 R=13
T=14 Y=15 U=16 I=17 O=18 P=19 LEFTBRACE=1a RIGHTBRACE=1b ENTER=1c LEFTCTRL=1d A=1e S=1f D=20 F=21 G=22 H=23
J=24 K=25 L=26 SEMICOLON=27 APOSTROPHE=28 GRAVE=29 LEFTSHIFT=2a BACKSLASH=2b Z=2c X=2d C=2e V=2f B=30 N=31
M=32 COMMA=33 DOT=34 SLASH=35 RIGHTSHIFT=36 KPASTERISK=37 LEFTALT=38 SPACE=39 CAPSLOCK=3a F1=3b F2=3c F3=3d
F4=3e F5=3f F6=40 F7=41 F8=42 F9=43 F10=44 NUMLOCK=45 SCROLLLOCK=46 KP7=47 KP8=48 KP9=49 KPMINUS=4a KP4=4b
KP5=4c KP6=4d KPPLUS=4e KP1=4f KP2=50 KP3=51 KP0=52 KPDOT=53 ZENKAKUHANKAKU=55 102ND=56 F11=57 F12=58 RO=59
KATAKANA=5a HIRAGANA=5b HENKAN=5c KATAKANAHIRAGANA=5d MUHENKAN=5e KPJPCOMMA=5f KPENTER=60 RIGHTCTRL=61
KPSLASH=62 SYSRQ=63 RIGHTALT=64 LINEFEED=65 HOME=66 UP=67 PAGEUP=68 LEFT=69 RIGHT=6a END=6b DOWN=6c
PAGEDOWN=6d INSERT=6e DELETE=6f MACRO=70 MUTE=71 VOLUMEDOWN=72 VOLUMEUP=73 POWER=74 KPEQUAL=75 KPPLUSMINUS=76
PAUSE=77 SCALE=78 KPCOMMA=79 HANGEUL=7a HANGUEL=7a HANJA=7b YEN=7c LEFTMETA=7d RIGHTMETA=7e COMPOSE=7f STOP=80
AGAIN=81 PROPS=82 UNDO=83 FRONT=84 COPY=85 OPEN=86 PASTE=87 FIND=88 CUT=89 HELP=8a MENU=8b CALC=8c SETUP=8d
SLEEP=8e WAKEUP=8f FILE=90 SENDFILE=91 DELETEFILE=92 XFER=93 PROG1=94 PROG2=95 WWW=96 MSDOS=97 COFFEE=98
SCREENLOCK=98 DIRECTION=99 ROTATE_DISPLAY=99 CYCLEWINDOWS=9a MAIL=9b BOOKMARKS=9c COMPUTER=9d BACK=9e
FORWARD=9f CLOSECD=a0 EJECTCD=a1 EJECTCLOSECD=a2 NEXTSONG=a3 PLAYPAUSE=a4 PREVIOUSSONG=a5 STOPCD=a6 RECORD=a7
REWIND=a8 PHONE=a9 ISO=aa CONFIG=ab HOMEPAGE=ac REFRESH=ad EXIT=ae MOVE=af EDIT=b0 SCROLLUP=b1 SCROLLDOWN=b2
KPLEFTPAREN=b3 KPRIGHTPAREN=b4 NEW=b5 REDO=b6 F13=b7 F14=b8 F15=b9 F16=ba F17=bb F18=bc F19=bd F20=be F21=bf
F22=c0 F23=c1 F24=c2 PLAYCD=c8 PAUSECD=c9 PROG3=ca PROG4=cb ALL_APPLICATIONS=cc DASHBOARD=cc SUSPEND=cd
CLOSE=ce PLAY=cf FASTFORWARD=d0 BASSBOOST=d1 PRINT=d2 HP=d3 CAMERA=d4 SOUND=d5 QUESTION=d6 EMAIL=d7 CHAT=d8
SEARCH=d9 CONNECT=da FINANCE=db SPORT=dc SHOP=dd ALTERASE=de CANCEL=df BRIGHTNESSDOWN=e0 BRIGHTNESSUP=e1
MEDIA=e2 SWITCHVIDEOMODE=e3 KBDILLUMTOGGLE=e4 KBDILLUMDOWN=e5 KBDILLUMUP=e6 SEND=e7 REPLY=e8 FORWARDMAIL=e9
SAVE=ea DOCUMENTS=eb BATTERY=ec BLUETOOTH=ed WLAN=ee UWB=ef UNKNOWN=f0 VIDEO_NEXT=f1 VIDEO_PREV=f2
BRIGHTNESS_CYCLE=f3 BRIGHTNESS_AUTO=f4 BRIGHTNESS_ZERO=f4 DISPLAY_OFF=f5 WIMAX=f6 WWAN=f6 RFKILL=f7 MICMUTE=f8
BTN_0=100 BTN_1=101 BTN_2=102 BTN_3=103 BTN_4=104 BTN_5=105 BTN_6=106 BTN_7=107 BTN_8=108 BTN_9=109
BTN_LEFT=110 BTN_RIGHT=111 BTN_MIDDLE=112 BTN_SIDE=113 BTN_EXTRA=114 BTN_FORWARD=115 BTN_BACK=116 BTN_TASK=117
BTN_TRIGGER=120 BTN_THUMB=121 BTN_THUMB2=122 BTN_TOP=123 BTN_TOP2=124 BTN_PINKIE=125 BTN_BASE=126
BTN_BASE2=127 BTN_BASE3=128 BTN_BASE4=129 BTN_BASE5=12a BTN_BASE6=12b BTN_DEAD=12f BTN_A=130 BTN_SOUTH=130
BTN_B=131 BTN_EAST=131 BTN_C=132 BTN_NORTH=133 BTN_X=133 BTN_WEST=134 BTN_Y=134 BTN_Z=135 BTN_TL=136
BTN_TR=137 BTN_TL2=138 BTN_TR2=139 BTN_SELECT=13a BTN_START=13b BTN_MODE=13c BTN_THUMBL=13d BTN_THUMBR=13e
BTN_TOOL_PEN=140 BTN_TOOL_RUBBER=141 BTN_TOOL_BRUSH=142 BTN_TOOL_PENCIL=143 BTN_TOOL_AIRBRUSH=144
BTN_TOOL_FINGER=145 BTN_TOOL_MOUSE=146 BTN_TOOL_LENS=147 BTN_TOOL_QUINTTAP=148 BTN_STYLUS3=149 BTN_TOUCH=14a
BTN_STYLUS=14b BTN_STYLUS2=14c BTN_TOOL_DOUBLETAP=14d BTN_TOOL_TRIPLETAP=14e BTN_TOOL_QUADTAP=14f
BTN_GEAR_DOWN=150 BTN_GEAR_UP=151 OK=160 SELECT=161 GOTO=162 CLEAR=163 POWER2=164 OPTION=165 INFO=166 TIME=167
VENDOR=168 ARCHIVE=169 PROGRAM=16a CHANNEL=16b FAVORITES=16c EPG=16d PVR=16e MHP=16f LANGUAGE=170 TITLE=171
SUBTITLE=172 ANGLE=173 FULL_SCREEN=174 ZOOM=174 MODE=175 KEYBOARD=176 ASPECT_RATIO=177 SCREEN=177 PC=178
TV=179 TV2=17a VCR=17b VCR2=17c SAT=17d SAT2=17e CD=17f TAPE=180 RADIO=181 TUNER=182 PLAYER=183 TEXT=184
DVD=185 AUX=186 MP3=187 AUDIO=188 VIDEO=189 DIRECTORY=18a LIST=18b MEMO=18c CALENDAR=18d RED=18e GREEN=18f
YELLOW=190 BLUE=191 CHANNELUP=192 CHANNELDOWN=193 FIRST=194 LAST=195 AB=196 NEXT=197 RESTART=198 SLOW=199
SHUFFLE=19a BREAK=19b PREVIOUS=19c DIGITS=19d TEEN=19e TWEN=19f VIDEOPHONE=1a0 GAMES=1a1 ZOOMIN=1a2
ZOOMOUT=1a3 ZOOMRESET=1a4 WORDPROCESSOR=1a5 EDITOR=1a6 SPREADSHEET=1a7 GRAPHICSEDITOR=1a8 PRESENTATION=1a9
DATABASE=1aa NEWS=1ab VOICEMAIL=1ac ADDRESSBOOK=1ad MESSENGER=1ae BRIGHTNESS_TOGGLE=1af DISPLAYTOGGLE=1af
SPELLCHECK=1b0 LOGOFF=1b1 DOLLAR=1b2 EURO=1b3 FRAMEBACK=1b4 FRAMEFORWARD=1b5 CONTEXT_MENU=1b6 MEDIA_REPEAT=1b7
10CHANNELSUP=1b8 10CHANNELSDOWN=1b9 IMAGES=1ba NOTIFICATION_CENTER=1bc PICKUP_PHONE=1bd HANGUP_PHONE=1be
LINK_PHONE=1bf DEL_EOL=1c0 DEL_EOS=1c1 INS_LINE=1c2 DEL_LINE=1c3 FN=1d0 FN_ESC=1d1 FN_F1=1d2 FN_F2=1d3
FN_F3=1d4 FN_F4=1d5 FN_F5=1d6 FN_F6=1d7 FN_F7=1d8 FN_F8=1d9 FN_F9=1da FN_F10=1db FN_F11=1dc FN_F12=1dd
FN_1=1de FN_2=1df FN_D=1e0 FN_E=1e1 FN_F=1e2 FN_S=1e3 FN_B=1e4 FN_RIGHT_SHIFT=1e5 BRL_DOT1=1f1 BRL_DOT2=1f2
BRL_DOT3=1f3 BRL_DOT4=1f4 BRL_DOT5=1f5 BRL_DOT6=1f6 BRL_DOT7=1f7 BRL_DOT8=1f8 BRL_DOT9=1f9 BRL_DOT10=1fa
NUMERIC_0=200 NUMERIC_1=201 NUMERIC_2=202 NUMERIC_3=203 NUMERIC_4=204 NUMERIC_5=205 NUMERIC_6=206
NUMERIC_7=207 NUMERIC_8=208 NUMERIC_9=209 NUMERIC_STAR=20a NUMERIC_POUND=20b NUMERIC_A=20c NUMERIC_B=20d
NUMERIC_C=20e NUMERIC_D=20f CAMERA_FOCUS=210 WPS_BUTTON=211 TOUCHPAD_TOGGLE=212 TOUCHPAD_ON=213
TOUCHPAD_OFF=214 CAMERA_ZOOMIN=215 CAMERA_ZOOMOUT=216 CAMERA_UP=217 CAMERA_DOWN=218 CAMERA_LEFT=219
CAMERA_RIGHT=21a ATTENDANT_ON=21b ATTENDANT_OFF=21c ATTENDANT_TOGGLE=21d LIGHTS_TOGGLE=21e BTN_DPAD_UP=220
BTN_DPAD_DOWN=221 BTN_DPAD_LEFT=222 BTN_DPAD_RIGHT=223 ALS_TOGGLE=230 ROTATE_LOCK_TOGGLE=231
REFRESH_RATE_TOGGLE=232 BUTTONCONFIG=240 TASKMANAGER=241 JOURNAL=242 CONTROLPANEL=243 APPSELECT=244
SCREENSAVER=245 VOICECOMMAND=246 ASSISTANT=247 KBD_LAYOUT_NEXT=248 EMOJI_PICKER=249 DICTATE=24a
BRIGHTNESS_MIN=250 BRIGHTNESS_MAX=251 KBDINPUTASSIST_PREV=260 KBDINPUTASSIST_NEXT=261
KBDINPUTASSIST_PREVGROUP=262 KBDINPUTASSIST_NEXTGROUP=263 KBDINPUTASSIST_ACCEPT=264 KBDINPUTASSIST_CANCEL=265
RIGHT_UP=266 RIGHT_DOWN=267 LEFT_UP=268 LEFT_DOWN=269 ROOT_MENU=26a MEDIA_TOP_MENU=26b NUMERIC_11=26c
NUMERIC_12=26d AUDIO_DESC=26e 3D_MODE=26f NEXT_FAVORITE=270 STOP_RECORD=271 PAUSE_RECORD=272 VOD=273
UNMUTE=274 FASTREVERSE=275 SLOWREVERSE=276 DATA=277 ONSCREEN_KEYBOARD=278 PRIVACY_SCREEN_TOGGLE=279
SELECTIVE_SCREENSHOT=27a NEXT_ELEMENT=27b PREVIOUS_ELEMENT=27c AUTOPILOT_ENGAGE_TOGGLE=27d MARK_WAYPOINT=27e
SOS=27f NAV_CHART=280 FISHING_CHART=281 SINGLE_RANGE_RADAR=282 DUAL_RANGE_RADAR=283 RADAR_OVERLAY=284
TRADITIONAL_SONAR=285 CLEARVU_SONAR=286 SIDEVU_SONAR=287 NAV_INFO=288 BRIGHTNESS_MENU=289 MACRO1=290
MACRO2=291 MACRO3=292 MACRO4=293 MACRO5=294 MACRO6=295 MACRO7=296 MACRO8=297 MACRO9=298 MACRO10=299
MACRO11=29a MACRO12=29b MACRO13=29c MACRO14=29d MACRO15=29e MACRO16=29f MACRO17=2a0 MACRO18=2a1 MACRO19=2a2
MACRO20=2a3 MACRO21=2a4 MACRO22=2a5 MACRO23=2a6 MACRO24=2a7 MACRO25=2a8 MACRO26=2a9 MACRO27=2aa MACRO28=2ab
MACRO29=2ac MACRO30=2ad MACRO_RECORD_START=2b0 MACRO_RECORD_STOP=2b1 MACRO_PRESET_CYCLE=2b2 MACRO_PRESET1=2b3
MACRO_PRESET2=2b4 MACRO_PRESET3=2b5 KBD_LCD_MENU1=2b8 KBD_LCD_MENU2=2b9 KBD_LCD_MENU3=2ba KBD_LCD_MENU4=2bb
KBD_LCD_MENU5=2bc BTN_TRIGGER_HAPPY1=2c0 BTN_TRIGGER_HAPPY2=2c1 BTN_TRIGGER_HAPPY3=2c2 BTN_TRIGGER_HAPPY4=2c3
BTN_TRIGGER_HAPPY5=2c4 BTN_TRIGGER_HAPPY6=2c5 BTN_TRIGGER_HAPPY7=2c6 BTN_TRIGGER_HAPPY8=2c7
BTN_TRIGGER_HAPPY9=2c8 BTN_TRIGGER_HAPPY10=2c9 BTN_TRIGGER_HAPPY11=2ca BTN_TRIGGER_HAPPY12=2cb
BTN_TRIGGER_HAPPY13=2cc BTN_TRIGGER_HAPPY14=2cd BTN_TRIGGER_HAPPY15=2ce BTN_TRIGGER_HAPPY16=2cf
BTN_TRIGGER_HAPPY17=2d0 BTN_TRIGGER_HAPPY18=2d1 BTN_TRIGGER_HAPPY19=2d2 BTN_TRIGGER_HAPPY20=2d3
BTN_TRIGGER_HAPPY21=2d4 BTN_TRIGGER_HAPPY22=2d5 BTN_TRIGGER_HAPPY23=2d6 BTN_TRIGGER_HAPPY24=2d7
BTN_TRIGGER_HAPPY25=2d8 BTN_TRIGGER_HAPPY26=2d9 BTN_TRIGGER_HAPPY27=2da BTN_TRIGGER_HAPPY28=2db
BTN_TRIGGER_HAPPY29=2dc BTN_TRIGGER_HAPPY30=2dd BTN_TRIGGER_HAPPY31=2de BTN_TRIGGER_HAPPY32=2df
BTN_TRIGGER_HAPPY33=2e0 BTN_TRIGGER_HAPPY34=2e1 BTN_TRIGGER_HAPPY35=2e2 BTN_TRIGGER_HAPPY36=2e3
BTN_TRIGGER_HAPPY37=2e4 BTN_TRIGGER_HAPPY38=2e5 BTN_TRIGGER_HAPPY39=2e6 BTN_TRIGGER_HAPPY40=2e7
`;

let keyNames: Map<string, number> | undefined;

/** keyboard_lookup_key(): the code of a key name ("mute", "key_mute", "btn_left"), or undefined. */
export function keyCodeByName(name: string): number | undefined {
  if (!keyNames) {
    keyNames = new Map();
    for (const tok of KEY_TABLE.split(/\s+/)) {
      if (!tok) continue;
      const eq = tok.lastIndexOf('=');
      const n = tok.slice(0, eq).toLowerCase();
      const code = parseInt(tok.slice(eq + 1), 16);
      if (n.startsWith('btn_')) keyNames.set(n, code);
      else {
        keyNames.set(n, code);
        keyNames.set(`key_${n}`, code);
      }
    }
  }
  return keyNames.get(name);
}

/** Every name keyCodeByName knows (for tests and documentation). */
export function keyNameCount(): number {
  keyCodeByName('');
  return keyNames!.size;
}

/**
 * An EVDEV_ABS_ value applied to struct input_absinfo as parse_token() does: up to five ':'-separated
 * strtol(…, 0) numbers for minimum, maximum, resolution, fuzz, flat; an empty field keeps the current value.
 * Returns the new values, or undefined when the text does not parse.
 */
export function applyAbsOverride(current: AbsInfo, value: string): AbsInfo | undefined {
  const out = { ...current };
  let rest: string | undefined = value;
  for (const field of ['minimum', 'maximum', 'resolution', 'fuzz', 'flat'] as const) {
    if (rest === undefined) return undefined;
    const r = strtol(rest, 0);
    const next = r.end; // 0 when nothing was read (next == current)
    if (next < rest.length && rest[next] !== ':') return undefined;
    if (r.end !== 0) out[field] = Number(BigInt.asIntN(32, r.value)); // the C code stores the long in an int32_t
    rest = next < rest.length ? rest.slice(next + 1) : '';
  }
  return out;
}

const EV_ABS = 3;

// ------------------------------------------------------------------ the builtin


/** sd_device_open(O_RDWR|O_NONBLOCK|O_NOCTTY|O_CLOEXEC): the device's own char node under the dev root. */
function openNode(ctx: BuiltinContext, devname: string): number {
  const dev = ctx.device;
  const path = devPath(ctx.roots, devname);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY | 0o2000000 /* O_CLOEXEC */ | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    const n = splitDevT(st.rdev);
    const num = dev.devnum;
    const rightType = dev.subsystem === 'block' ? st.isBlockDevice() : st.isCharacterDevice();
    if (!rightType || !num || n.major !== num.major || n.minor !== num.minor) throw new Error(`${path} is not the node of ${dev.syspath}`);
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The serio parent (atkbd, psmouse) that carries force_release and sensitivity. */
function serioParent(dev: Device): Device | undefined {
  return dev.parentWithSubsystemDevtype('serio');
}

function run(ctx: BuiltinContext, _argv: string[]): boolean {
  const dev = ctx.device;
  const log = ctx.log;
  const who = dev.sysname;
  const node = dev.devname;
  if (!node) {
    log.error(`${who}: keyboard: failed to get device name`);
    return false;
  }
  const release: number[] = [];
  let fd = -1;
  let hasAbs: boolean | undefined;
  const open = (): boolean => {
    if (fd >= 0 || ctx.test) return true;
    try {
      fd = openNode(ctx, node);
      return true;
    } catch (e) {
      log.error(`${who}: keyboard: failed to open device '${node}': ${(e as Error).message}`);
      return false;
    }
  };
  try {
    for (const [key, value] of dev.properties) {
      if (key.startsWith('KEYBOARD_KEY_')) {
        const scancode = numberOrUndefined(safeAtou(key.slice(13), { base: 16 }));
        if (scancode === undefined) {
          log.warn(`${who}: keyboard: failed to parse scan code from "${key}", ignoring`);
          continue;
        }
        let keycode = value;
        // a leading '!' asks for a force-release entry
        if (keycode.startsWith('!')) {
          keycode = keycode.slice(1);
          if (release.length < 1023) release.push(scancode); // udev's array keeps 1023, later ones are lost
          if (keycode === '') continue;
        }
        if (!open()) return false;
        mapKeycode(ctx, fd, scancode, keycode);
      } else if (key.startsWith('EVDEV_ABS_')) {
        const evcode = numberOrUndefined(safeAtou(key.slice(10), { base: 16 }));
        if (evcode === undefined) {
          log.warn(`${who}: keyboard: failed to parse EV_ABS code from "${key}", ignoring`);
          continue;
        }
        if (!open()) return false;
        if (ctx.test) {
          log.debug(`${who}: keyboard: test mode, not overriding axis ${evcode.toString(16)} with '${value}'`);
          continue;
        }
        if (hasAbs === undefined) {
          const bits = Buffer.alloc(8);
          if (ioctl(fd, EVIOCGBIT_EV(), bits) < 0) {
            log.error(`${who}: keyboard: EVIOCGBIT on ${node} failed: ${errnoName(errno())}`);
            return false;
          }
          hasAbs = (bits[0]! & (1 << EV_ABS)) !== 0;
          if (!hasAbs) log.warn(`${who}: keyboard: EVDEV_ABS override set but no EV_ABS present on device`);
        }
        if (!hasAbs) continue;
        overrideAbs(ctx, fd, evcode, value);
      } else if (key === 'POINTINGSTICK_SENSITIVITY') {
        setSensitivity(ctx, value);
      }
    }
    if (release.length > 0) installForceRelease(ctx, release);
    return true;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function mapKeycode(ctx: BuiltinContext, fd: number, scancode: number, keycode: string): void {
  const who = ctx.device.sysname;
  const code = keyCodeByName(keycode) ?? numberOrUndefined(safeAtou(keycode));
  if (code === undefined) {
    ctx.log.error(`${who}: keyboard: failed to parse key identifier '${keycode}'`);
    return;
  }
  const hex = (n: number) => n.toString(16);
  if (ctx.test) {
    ctx.log.debug(`${who}: keyboard: test mode, not mapping scan code ${scancode} (0x${hex(scancode)}) to key code ${code} (0x${hex(code)})`);
    return;
  }
  ctx.log.debug(`${who}: keyboard: mapping scan code ${scancode} (0x${hex(scancode)}) to key code ${code} (0x${hex(code)})`);
  if (ioctl(fd, EVIOCSKEYCODE(), encodeKeymap(scancode, code)) < 0)
    ctx.log.error(`${who}: keyboard: EVIOCSKEYCODE with scan code 0x${hex(scancode)} and key code ${code} failed: ${errnoName(errno())}`);
}

function overrideAbs(ctx: BuiltinContext, fd: number, evcode: number, value: string): void {
  const who = ctx.device.sysname;
  const buf = Buffer.alloc(absinfoSize());
  if (ioctl(fd, EVIOCGABS(evcode), buf) < 0) {
    ctx.log.error(`${who}: keyboard: EVIOCGABS(0x${evcode.toString(16)}) failed: ${errnoName(errno())}`);
    return;
  }
  const next = applyAbsOverride(decodeAbsInfo(buf), value);
  if (!next) {
    ctx.log.error(`${who}: keyboard: failed to parse EV_ABS override '${value}'`);
    return;
  }
  ctx.log.debug(`${who}: keyboard: ${evcode.toString(16)} overridden with ${next.minimum}/${next.maximum}/${next.resolution}/${next.fuzz}/${next.flat}`);
  if (ioctl(fd, EVIOCSABS(evcode), encodeAbsInfo(next)) < 0) ctx.log.error(`${who}: keyboard: EVIOCSABS(0x${evcode.toString(16)}) failed: ${errnoName(errno())}`);
}

function setSensitivity(ctx: BuiltinContext, value: string): void {
  const who = ctx.device.sysname;
  const serio = serioParent(ctx.device);
  if (!serio) {
    ctx.log.error(`${who}: keyboard: failed to get serio parent for POINTINGSTICK_SENSITIVITY`);
    return;
  }
  const v = numberOrUndefined(safeAtoi(value));
  if (v === undefined) {
    ctx.log.error(`${who}: keyboard: failed to parse POINTINGSTICK_SENSITIVITY '${value}'`);
    return;
  }
  if (v < 0 || v > 255) {
    ctx.log.error(`${who}: keyboard: POINTINGSTICK_SENSITIVITY ${v} outside range [0..255]`);
    return;
  }
  if (ctx.test) {
    ctx.log.debug(`${who}: keyboard: test mode, not writing sensitivity ${v} to ${serio.syspath}`);
    return;
  }
  try {
    serio.setSysattr('sensitivity', String(v));
  } catch (e) {
    ctx.log.error(`${who}: keyboard: failed to write 'sensitivity' attribute: ${(e as Error).message}`);
  }
}

/** The new force_release list: the current one and ",<scancode>" for each, cut to the C code's 4096 bytes. */
export function forceReleaseList(current: string, release: number[]): string {
  let s = current;
  for (const r of release) s += `,${r}`;
  return s.length > 4095 ? s.slice(0, 4095) : s;
}

function installForceRelease(ctx: BuiltinContext, release: number[]): void {
  const who = ctx.device.sysname;
  const atkbd = serioParent(ctx.device);
  if (!atkbd) {
    ctx.log.error(`${who}: keyboard: failed to get serio parent for force_release`);
    return;
  }
  const cur = atkbd.sysattr('force_release');
  if (cur === undefined) {
    ctx.log.error(`${atkbd.sysname}: keyboard: failed to get force-release attribute`);
    return;
  }
  const codes = forceReleaseList(cur, release);
  if (ctx.test) {
    ctx.log.debug(`${atkbd.sysname}: keyboard: test mode, not updating the force-release list with '${codes}'`);
    return;
  }
  ctx.log.debug(`${atkbd.sysname}: keyboard: updating force-release list with '${codes}'`);
  try {
    atkbd.setSysattr('force_release', codes);
  } catch (e) {
    ctx.log.error(`${atkbd.sysname}: keyboard: failed to set force-release attribute: ${(e as Error).message}`);
  }
}

const builtin: Builtin = {
  name: 'keyboard',
  help: 'Keyboard scan code to key mapping',
  run,
};

export default builtin;
