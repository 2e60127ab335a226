// A generated corpus of rules files for comparing `devctl verify` with `udevadm verify` (systemd 257): every key
// with every operator and attribute form, values with good and bad substitutions, GOTO/LABEL cases, comma and
// whitespace variants, continuations, long lines, OWNER/GROUP names, escapes and prefixes, conflicting and
// duplicate matches, line endings and bytes that are not UTF-8, and random lines built from all of these.
import { prng } from '../helpers/prng.js';

const KEYS = [
  'ACTION', 'DEVPATH', 'KERNEL', 'SYMLINK', 'NAME', 'ENV', 'CONST', 'TAG', 'SUBSYSTEM', 'DRIVER', 'ATTR', 'SYSCTL',
  'KERNELS', 'SUBSYSTEMS', 'DRIVERS', 'ATTRS', 'TAGS', 'TEST', 'PROGRAM', 'IMPORT', 'RESULT', 'OPTIONS', 'OWNER',
  'GROUP', 'MODE', 'SECLABEL', 'RUN', 'GOTO', 'LABEL',
  // not keys
  'FOO', 'kernel', 'BUS', 'SYSFS', 'ID', 'WAIT_FOR', 'LAST_RULE', 'KER-NEL', 'KERNEL!', 'KERNEL:x',
];
const OPS = ['==', '!=', '=', '+=', '-=', ':='];
const ATTRS = [
  undefined, '', 'a', 'size', '%', '%k', '$kernel', '$kernal', '[net/lo]mtu', '[net/lo]', 'device/vendor', '../x', 'x/../y', 'arch', 'virt', 'cpu',
  'program', 'builtin', 'file', 'db', 'cmdline', 'parent', '0644', '8x', '07777', '17777', ' 644', '+644', 'x y', 'ID_FS_TYPE', 'ACTION', 'DEVNAME',
  'DRIVER', 'IFINDEX', 'SEQNUM', 'TAGS', 'DEVLINKS', 'CURRENT_TAGS', 'security.SMACK64', 'kernel/x', '*/size',
];
const VALUES = [
  'x', '', '?*', '*', 'a|b', '|a', 'a|', 'a||b', 'sd[a-z]', '%k', '$kernel', '$kernal', '%z', '%', '$', '$$', '%%', 'bus', 'class', 'subsystem',
  'dump', 'watch', 'nowatch', 'db_persist', 'string_escape=none', 'string_escape=replace', 'static_node=tty0', 'link_priority=10',
  'link_priority=x', 'log_level=debug', 'log_level=DEBUG', 'log_level=reset', 'log_level=9', 'path_id', 'path', 'usb_id --x', 'nosuch', 'kmod load',
  '0', 'root', 'nobody', 'nogroup', 'daemon', 'disk', 'nosuchuser', '007', '65535', '0660', '0x1ff', '660', 'unused', 'label', '/bin/true',
  'uaccess', 'net_setup_link', 'factory_reset', 'hwdb --subsystem=usb',
];
const SUBSTITUTIONS = [
  '$kernel', '$number', '$devpath', '$id', '$driver', '$attr{size}', '$sysfs{size}', '$env{ID}', '$major', '$minor', '$result', '$result{2}',
  '$result{2+}', '$result{x}', '$result{+}', '$result{0x3}', '$result{ 1}', '$result{-1}', '$result{4294967296}', '$parent', '$name', '$links',
  '$root', '$sys', '$devnode', '$tempnode', '%k', '%n', '%p', '%b', '%d', '%s{size}', '%E{ID}', '%M', '%m', '%c', '%c{1}', '%P', '%D', '%L',
  '%r', '%S', '%N', '$attr', '$env', '$attr{}', '$env{}', '%s', '%E', '$attr{size', '$kernal', '%q', '%', '$', '$$', '%%', '$$kernal', 'a$',
  '${kernel}', '$kernel{x}', `$attr{${'a'.repeat(1100)}}`, '$env{A}$env{B}%z', 'ok', '$devpath$kernal',
];
const SEPARATORS = ['', ',', ', ', ' ,', ' , ', ',,', ', ,', ',\t', '\t', ' ', '  ,  ,  ', ',,,'];
const USERS = ['root', '0', 'nobody', 'nogroup', 'daemon', 'disk', 'nosuchuser', 'nosuchgroup', '007', '65535', '65534', '4294967295', '4294967294', '', '12345', ':x:', 'a b', '$env{OWNER}', '%k', '[net/lo]x', 'ROOT', '+0', ' 0', 'tty', 'postgres'];

/** One file: its name and its bytes. */
export interface CorpusFile {
  name: string;
  bytes: Buffer;
}

function file(name: string, lines: readonly string[], ending = '\n'): CorpusFile {
  return { name, bytes: Buffer.from(lines.join(ending) + ending, 'latin1') };
}

const q = (v: string) => `"${v.replace(/"/g, '\\"')}"`;

function token(key: string, attr: string | undefined, op: string, value: string): string {
  return `${key}${attr === undefined ? '' : `{${attr}}`}${op}${q(value)}`;
}

export function corpus(): CorpusFile[] {
  const files: CorpusFile[] = [];
  const rnd = prng(257);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;

  // every key with every operator and attribute form, alone and with an assignment next to it
  for (const key of KEYS) {
    const lines: string[] = [];
    for (const op of OPS) {
      for (const attr of ATTRS) {
        lines.push(token(key, attr, op, 'x'));
        lines.push(`${token(key, attr, op, pick(VALUES))}, NAME="n"`);
      }
      for (const v of VALUES) lines.push(`KERNEL=="k", ${token(key, pick(ATTRS.slice(0, 4)), op, v)}`);
      lines.push(`${key}${op}i"x", TAG+="t"`, `${key}{a}${op}e"x\\ty", TAG+="t"`, `${key}${op}ie"x", TAG+="t"`);
    }
    files.push(file(`10-key-${key.replace(/[^A-Za-z_]/g, '_')}.rules`, lines));
  }

  // substitutions in every key that checks its value (and in attribute names)
  {
    const lines: string[] = [];
    for (const s of SUBSTITUTIONS) {
      for (const [key, attr, op] of [
        ['SYMLINK', undefined, '+='], ['NAME', undefined, '='], ['ENV', 'X', '='], ['TAG', undefined, '+='], ['ATTR', 'a', '='],
        ['SYSCTL', 'k', '='], ['TEST', undefined, '=='], ['PROGRAM', undefined, '='], ['IMPORT', 'program', '='], ['IMPORT', 'file', '=='],
        ['MODE', undefined, '='], ['SECLABEL', 'selinux', '='], ['RUN', undefined, '+='], ['RUN', 'program', '+='], ['KERNEL', undefined, '=='],
      ] as const) {
        lines.push(`KERNEL=="k", ${token(key, attr, op, s)}`);
      }
      lines.push(`${token('ATTR', s, '==', 'v')}, NAME="n"`, `${token('ATTRS', s, '==', 'v')}, NAME="n"`, `${token('SYSCTL', s, '=', 'v')}`);
    }
    files.push(file('20-substitutions.rules', lines));
  }

  // OWNER and GROUP names, each in a line of its own (and once more, resolved names are cached)
  files.push(file('30-owner-group.rules', USERS.flatMap((u) => [`KERNEL=="k", OWNER=${q(u)}`, `KERNEL=="k", GROUP=${q(u)}`, `OWNER:=${q(u)}, GROUP+=${q(u)}, MODE=${q(u)}`])));

  // GOTO and LABEL
  files.push(file('40-goto-label.rules', [
    'KERNEL=="a", GOTO="end"', 'GOTO="nowhere"', 'KERNEL=="b", NAME="x", GOTO="nowhere"', 'LABEL="unused"', 'GOTO="a", GOTO="b"',
    'LABEL="a"', 'LABEL="b", LABEL="c"', 'GOTO="c"', 'LABEL="c"', 'GOTO="back"', 'LABEL="back"', 'GOTO="back"', 'GOTO=""', 'LABEL=""',
    'GOTO="self", LABEL="self"', 'LABEL="dropped", FOO="x"', 'GOTO="dropped"', 'GOTO="end"', 'GOTO{x}="end"', 'GOTO=="end"', 'LABEL:="x"',
    'GOTO="twice"', 'LABEL="twice"', 'LABEL="twice"', 'GOTO="nolabel", LABEL="x1"', 'LABEL="end"',
  ]));
  files.push(file('41-goto-only.rules', ['GOTO="a"']));
  files.push(file('42-label-only.rules', ['LABEL="b"']));

  // separators between tokens, and leading and trailing ones
  {
    const lines: string[] = [];
    for (const a of SEPARATORS) for (const b of SEPARATORS) lines.push(`${a}ACTION=="add"${b}NAME="x"${a}`);
    lines.push(',', ' , ', ',,,,', ', ,\t', '\t ,', 'ACTION=="a",,', 'ACTION=="a"NAME="b"', 'ACTION=="a" ,NAME="b"', 'ACTION=="a",NAME="b"');
    files.push(file('50-separators.rules', lines));
  }

  // continuations, comments inside them, blank lines ending them
  files.push(file('60-continuations.rules', [
    'KERNEL=="a", \\', '  NAME="b"', 'KERNEL=="c", \\', '# a comment inside', '   NAME="d"', 'KERNEL=="e", \\', '', 'NAME="f"', 'KERNEL=="g"\\',
    'NAME="h"', '\\', '\\', 'KERNEL=="i", NAME="j" \\\\', 'KERNEL=="k", \\', '  \\', 'NAME="l"', 'KERNEL=="m", GOTO="n" \\', 'LABEL="n"',
    '   # indented comment', '\t\tKERNEL=="o", NAME="p"', 'KERNEL=="q", \\',
  ]));
  files.push(file('61-eof-continuation.rules', ['KERNEL=="a", NAME="b"', 'KERNEL=="c", \\']));
  files.push(file('62-only-backslash.rules', ['\\']));

  // long lines: a joined line reaching 16384 bytes is ignored; a physical line of 16384 bytes stops the file
  files.push(file('70-long-joined.rules', [
    'KERNEL=="a", GOTO="x"', `KERNEL=="${'a'.repeat(9000)}", \\`, `NAME="${'b'.repeat(9000)}"`, 'LABEL="x"',
    `RUN+="/usr/bin/true",${' '.repeat(8170)}\\`, `RUN+="/usr/bin/false"${' '.repeat(8170)}\\`, '',
    `RUN+="/usr/bin/true"${' '.repeat(8176)}\\`, ' #', '', `KERNEL=="${'c'.repeat(16350)}", NAME="d"`,
  ]));
  files.push(file('71-long-physical.rules', ['KERNEL=="a", NAME="x", FOO="y"', `KERNEL=="${'a'.repeat(16384)}"`, 'GOTO="never"']));
  files.push(file('72-longest-physical.rules', [`${' '.repeat(16383)}`, `KERNEL=="${'a'.repeat(16363)}", NAME="b"`]));

  // values: escapes, the i prefix, quotes
  files.push(file('80-values.rules', [
    'KERNEL==e"a\\tb\\n\\x41\\101\\u00e9\\U0001F600\\s\\\\\\"\\\'\\a\\b\\f\\r\\v", NAME="x"', 'KERNEL==e"\\x"', 'KERNEL==e"\\x0"', 'KERNEL==e"\\x00"',
    'KERNEL==e"\\000"', 'KERNEL==e"\\400"', 'KERNEL==e"\\08"', 'KERNEL==e"\\u0000"', 'KERNEL==e"\\uD800", NAME="y"', 'KERNEL==e"\\U00110000"',
    'KERNEL==e"\\UFFFFFFFF"', 'KERNEL==e"\\q"', 'KERNEL==e"\\"', 'KERNEL==e"a\\"b", NAME="z"', 'KERNEL=="a\\"b", NAME="z"', 'KERNEL=="a\\\\"',
    'KERNEL=="a\\b", NAME="z"', 'KERNEL==i"A", NAME="z"', 'KERNEL==ei"\\x41", NAME="z"', 'KERNEL==ie"b", NAME="z"', 'KERNEL==ii"b"',
    'KERNEL==ee"b"', 'KERNEL==iei"b"', 'KERNEL==x"b"', 'KERNEL==b', 'KERNEL==', 'KERNEL', 'KERNEL="', 'KERNEL=="unterminated',
    'KERNEL{a', 'KERNEL{a}}=="x"', 'KERNEL{x}{y}=="x"', 'KERNEL {x}=="x"', 'KERNEL\t==\t"x", NAME="y"', 'KERNEL==="x"', 'KERNEL= ="x"',
    '="x"', '+="x"', 'KERNEL+=="x"', 'NAME=e"%k"', 'NAME="%k"', 'NAME=""', 'NAME:=""', 'ENV{A}=="x"NAME="b"',
    'SYMLINK+=e"a\\x24kernal"', 'ATTR{x}=="a b ", NAME="c"', 'ATTR{x}=="a b", ATTR{x}=="a b ", NAME="c"',
  ]));

  // conflicting and duplicate matches
  files.push(file('90-conflicts.rules', [
    'KERNEL=="", KERNEL=="?*", NAME="a"', 'KERNEL=="abc", KERNEL!="abc", NAME="b"', 'KERNEL=="|a|b", KERNEL!="b|a|", NAME="c"',
    'KERNEL=="a|b", KERNEL=="c|d|e", NAME="f"',
    'ENV{DISKSEQ}=="?*", ENV{DEVTYPE}!="partition", ENV{DISKSEQ}!="?*", ENV{ID_IGNORE_DISKSEQ}!="1", SYMLINK+="disk/by-diskseq/$env{DISKSEQ}"',
    'ACTION=="a*", ACTION=="bc*", NAME="d"', 'ACTION=="a*|bc*", ACTION=="d*|ef*", NAME="g"', 'KERNEL!="", KERNEL=="?*", NAME="a"',
    'KERNEL=="|a|b", KERNEL=="b|a|", NAME="c"',
    'ENV{DISKSEQ}=="?*", ENV{DEVTYPE}!="partition", ENV{DISKSEQ}=="?*", ENV{ID_IGNORE_DISKSEQ}!="1", SYMLINK+="disk/by-diskseq/$env{DISKSEQ}"',
    'KERNEL=="a|b", KERNEL=="a|c", NAME="d"', 'KERNEL=="a|b", KERNEL!="a|c", NAME="d"', 'KERNEL!="a", KERNEL!="b", NAME="c"',
    'KERNEL=="|a", KERNEL=="|b", NAME="c"', 'KERNEL=="*", KERNEL=="a*", NAME="b"', 'KERNEL=="a*", KERNEL=="c*|ab*", NAME="d"',
    'PROGRAM="a", RESULT=="b"', 'KERNEL!="", KERNEL=="?*", KERNEL=="", NAME="a"', 'RESULT=="a", PROGRAM="b"',
    'RESULT=="a*", PROGRAM="b", RESULT=="*c", PROGRAM="d"', 'ATTR{a}=="x", ATTR{a}=="y", NAME="b"', 'ATTR{a}=="x", ATTR{a}!="x", NAME="b"',
    'ATTRS{a}=="x", ATTRS{a}!="x", NAME="b"', 'KERNEL=="a", KERNEL==i"b", NAME="x"', 'KERNEL==i"a", KERNEL!=i"a", NAME="x"',
    'KERNEL==i"a", KERNEL==i"b", NAME="x"', 'NAME="a", NAME="a"', 'SYMLINK+="a", SYMLINK+="a"', 'OPTIONS="watch", OPTIONS+="watch"',
    'IMPORT{builtin}="path_id", IMPORT{builtin}="path_id"', 'IMPORT{builtin}="usb_id", IMPORT{program}="usb_id"',
    'IMPORT{builtin}=="kmod", IMPORT{builtin}!="kmod", NAME="a"', 'SUBSYSTEM=="subsystem", SUBSYSTEM!="bus", NAME="a"',
    'TEST{0644}=="/x", TEST{0644}!="/x", NAME="a"', 'TEST=="/x", TEST{0644}!="/x", NAME="a"', 'ENV{A}=="1", ENV{B}!="1", NAME="a"',
    'ENV{A}=="1", ENV{A}=="2", ENV{A}=="1", ENV{A}!="1", NAME="a"', 'KERNEL=="a", KERNEL=="a", KERNEL=="b", NAME="c"',
    'OWNER="root", OWNER="0", GROUP="0", GROUP="root"', 'MODE="0600", MODE="600"', 'RUN+="x", RUN+="x", RUN{program}+="x"',
    'KERNEL=="a", KERNEL!="a"', 'SUBSYSTEMS=="a", SUBSYSTEMS=="b", KERNELS=="c", KERNELS=="d", TAG+="x"',
  ]));

  // line endings, NUL, bytes that are not UTF-8
  files.push(file('95-crlf.rules', ['KERNEL=="a", GOTO="x"', 'KERNEL=="b" NAME="c"', 'LABEL="y"'], '\r\n'));
  files.push(file('96-cr.rules', ['KERNEL=="a", GOTO="x"', 'KERNEL=="b" NAME="c"', 'LABEL="y"'], '\r'));
  files.push({ name: '97-bytes.rules', bytes: Buffer.concat([Buffer.from('KERNEL=="\xe9", NAME="\xff\xfe"\nSYMLINK+="x$kernal\xe9"\nFOO\xe9="x"\nKERNEL=="a"\0NAME="b"\n', 'latin1'), Buffer.from('KERNEL=="é", NAME="€$kernal"\n', 'utf8')]) });
  files.push({ name: '98-no-final-newline.rules', bytes: Buffer.from('KERNEL=="a", NAME="b"\nKERNEL=="c" NAME="d"') });
  files.push({ name: '99-empty.rules', bytes: Buffer.alloc(0) });
  files.push(file('99-comments-only.rules', ['# nothing', '  # here']));

  // random lines from all of the above
  {
    const lines: string[] = [];
    for (let i = 0; i < 600; i++) {
      const n = 1 + Math.floor(rnd() * 4);
      let line = rnd() < 0.1 ? pick(SEPARATORS) : '';
      for (let j = 0; j < n; j++) {
        const key = pick(KEYS);
        const attr = rnd() < 0.6 ? undefined : pick(ATTRS);
        const value = rnd() < 0.3 ? pick(SUBSTITUTIONS) : rnd() < 0.2 ? pick(USERS) : pick(VALUES);
        const prefix = rnd() < 0.1 ? pick(['i', 'e', 'ie', 'ei']) : '';
        line += (j > 0 ? pick(SEPARATORS) : '') + `${key}${attr === undefined ? '' : `{${attr}}`}${pick(OPS)}${prefix}${q(value)}`;
      }
      if (rnd() < 0.05) line += pick(SEPARATORS);
      if (rnd() < 0.05) line += ' \\';
      lines.push(line);
    }
    files.push(file('99-random.rules', lines));
  }
  return files;
}
