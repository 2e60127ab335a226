// The on-disk layout of systemd's hwdb.bin (little endian, all offsets absolute from the start of the file).
//
//   header (80 bytes)   signature "KSLPHHRH", tool_version u64, file_size u64, header_size u64, node_size u64,
//                       child_entry_size u64, value_entry_size u64, nodes_root_off u64, nodes_len u64,
//                       strings_len u64
//   nodes section       every trie node, children before their parent (post-order), root last. A node is
//                       prefix_off u64, children_count u8, 7 bytes padding, values_count u64 (24 bytes), followed
//                       by its child entries (c u8, 7 bytes padding, child_off u64: 16 bytes each, sorted by c)
//                       and its value entries (key_off u64, value_off u64 [, filename_off u64, line_number u32,
//                       file_priority u16, padding u16]: 16 bytes in the v1 "compat" layout that udevadm hwdb
//                       writes, 32 bytes in the v2 layout that systemd-hwdb writes; sorted by key).
//   string section      NUL-terminated strings; the first byte is NUL (the empty string).
//
// A node's prefix is the part of the match strings below it after the child character that leads to it; the
// root's prefix is empty. Property keys are stored with a leading space (other prefixes are reserved and
// ignored on lookup).

export const HWDB_SIGNATURE = Buffer.from('KSLPHHRH', 'latin1');
export const HEADER_SIZE = 80;
export const NODE_SIZE = 24;
export const CHILD_ENTRY_SIZE = 16;
export const VALUE_ENTRY_SIZE_V1 = 16;
export const VALUE_ENTRY_SIZE_V2 = 32;
/** Written in the tool_version field (informational only; readers ignore it). */
export const DEVMASTER_TOOL_VERSION = 1;

export const H_SIGNATURE = 0;
export const H_TOOL_VERSION = 8;
export const H_FILE_SIZE = 16;
export const H_HEADER_SIZE = 24;
export const H_NODE_SIZE = 32;
export const H_CHILD_ENTRY_SIZE = 40;
export const H_VALUE_ENTRY_SIZE = 48;
export const H_NODES_ROOT_OFF = 56;
export const H_NODES_LEN = 64;
export const H_STRINGS_LEN = 72;

export class HwdbFormatError extends Error {
  constructor(message: string, readonly path?: string) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'HwdbFormatError';
  }
}
