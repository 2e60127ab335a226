// libacl (libacl.so.1) through koffi, for the uaccess builtin: POSIX access ACLs on device nodes, rewritten as
// systemd's devnode_acl() does.
import { errnoError } from './errno.js';
import { errno, koffi, loadLibrary } from './libc.js';

// from <sys/acl.h> and <acl/libacl.h>
const ACL_READ = 4;
const ACL_WRITE = 2;
const ACL_USER = 0x02;
const ACL_TYPE_ACCESS = 0x8000;
const ACL_FIRST_ENTRY = 0;
const ACL_NEXT_ENTRY = 1;

/** An opaque libacl pointer (acl_t, acl_entry_t, acl_permset_t, a qualifier). */
type Ptr = unknown;

interface LibAcl {
  getFile(path: string, type: number): Ptr | null;
  setFile(path: string, type: number, acl: Ptr): number;
  getEntry(acl: Ptr, id: number, entry: [Ptr | null]): number;
  getTagType(entry: Ptr, tag: [number]): number;
  getQualifier(entry: Ptr): Ptr | null;
  deleteEntry(acl: Ptr, entry: Ptr): number;
  createEntry(acl: [Ptr | null], entry: [Ptr | null]): number;
  setTagType(entry: Ptr, tag: number): number;
  setQualifier(entry: Ptr, qualifier: [number]): number;
  getPermset(entry: Ptr, permset: [Ptr | null]): number;
  getPerm(permset: Ptr, perm: number): number;
  addPerm(permset: Ptr, perm: number): number;
  calcMask(acl: [Ptr | null]): number;
  free(p: Ptr): number;
}

let lib: LibAcl | undefined;

/** libacl, loaded once; throws a clear Error when it is not there. */
function acl(): LibAcl {
  if (lib) return lib;
  const l = loadLibrary('libacl.so.1', 'libacl1');
  const f = (decl: string) => l.func(decl) as unknown as (...a: unknown[]) => never;
  lib = {
    getFile: f('void *acl_get_file(const char *, int)'),
    setFile: f('int acl_set_file(const char *, int, void *)'),
    getEntry: f('int acl_get_entry(void *, int, _Out_ void **)'),
    getTagType: f('int acl_get_tag_type(void *, _Out_ int *)'),
    getQualifier: f('void *acl_get_qualifier(void *)'),
    deleteEntry: f('int acl_delete_entry(void *, void *)'),
    createEntry: f('int acl_create_entry(_Inout_ void **, _Out_ void **)'),
    setTagType: f('int acl_set_tag_type(void *, int)'),
    setQualifier: f('int acl_set_qualifier(void *, const uint32_t *)'),
    getPermset: f('int acl_get_permset(void *, _Out_ void **)'),
    getPerm: f('int acl_get_perm(void *, int)'),
    addPerm: f('int acl_add_perm(void *, int)'),
    calcMask: f('int acl_calc_mask(_Inout_ void **)'),
    free: f('int acl_free(void *)'),
  };
  return lib;
}

/** Throws the errno of the libacl call that just failed. */
function fail(call: string, path: string): never {
  throw errnoError(`${call} ${path}`, errno());
}

/** The named-user entries of an ACL with their uids. */
function userEntries(a: LibAcl, handle: Ptr, path: string): { entry: Ptr; uid: number }[] {
  const out: { entry: Ptr; uid: number }[] = [];
  const entry: [Ptr | null] = [null];
  for (let r = a.getEntry(handle, ACL_FIRST_ENTRY, entry); r > 0; r = a.getEntry(handle, ACL_NEXT_ENTRY, entry)) {
    const tag: [number] = [0];
    if (a.getTagType(entry[0], tag) < 0) fail('acl_get_tag_type', path);
    if (tag[0] !== ACL_USER) continue;
    const q = a.getQualifier(entry[0]);
    if (!q) fail('acl_get_qualifier', path);
    const uid = koffi().decode(q, 'uint32_t') as number;
    a.free(q);
    out.push({ entry: entry[0], uid });
  }
  return out;
}

/** Gives `uid`'s entry (made when missing) read and write; returns whether the ACL changed. */
function grantReadWrite(a: LibAcl, holder: [Ptr | null], uid: number, path: string): boolean {
  let entry = userEntries(a, holder[0], path).find((u) => u.uid === uid)?.entry;
  if (!entry) {
    const out: [Ptr | null] = [null];
    if (a.createEntry(holder, out) < 0) fail('acl_create_entry', path);
    entry = out[0];
    if (a.setTagType(entry, ACL_USER) < 0) fail('acl_set_tag_type', path);
    if (a.setQualifier(entry, [uid]) < 0) fail('acl_set_qualifier', path);
  }
  const permset: [Ptr | null] = [null];
  if (a.getPermset(entry, permset) < 0) fail('acl_get_permset', path);
  const rd = a.getPerm(permset[0], ACL_READ);
  const wr = a.getPerm(permset[0], ACL_WRITE);
  if (rd < 0 || wr < 0) fail('acl_get_perm', path);
  if (rd && wr) return false;
  if (a.addPerm(permset[0], ACL_READ | ACL_WRITE) < 0) fail('acl_add_perm', path);
  return true;
}

/**
 * Rewrites the access ACL of `path` as systemd's devnode_acl() does: with `flush`, every named-user entry goes;
 * then `addUid` (when given and not root) gets an entry with read and write. The mask is recomputed and the ACL
 * written only when something changed. Returns whether it was written; throws an Error carrying the errno.
 */
export function devnodeAcl(path: string, opts: { flush: boolean; addUid?: number }): boolean {
  const a = acl();
  const holder: [Ptr | null] = [a.getFile(path, ACL_TYPE_ACCESS)];
  if (!holder[0]) fail('acl_get_file', path);
  try {
    let changed = false;
    if (opts.flush) {
      // deleting while iterating upsets libacl's cursor: collect first
      for (const u of userEntries(a, holder[0], path)) {
        if (a.deleteEntry(holder[0], u.entry) < 0) fail('acl_delete_entry', path);
        changed = true;
      }
    }
    if (opts.addUid !== undefined && opts.addUid > 0 && grantReadWrite(a, holder, opts.addUid, path)) changed = true;
    if (!changed) return false;
    if (a.calcMask(holder) < 0) fail('acl_calc_mask', path);
    if (a.setFile(path, ACL_TYPE_ACCESS, holder[0]) < 0) fail('acl_set_file', path);
    return true;
  } finally {
    a.free(holder[0]);
  }
}
