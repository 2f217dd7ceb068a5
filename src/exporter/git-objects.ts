import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { isGitDir } from '../common/project-path.js';

/**
 * Git's object encodings (blob, tree, commit), hashed with node:crypto and deflated with
 * node:zlib, ready for isomorphic-git's `writeObject({ format: 'deflated' })`. Plain functions,
 * no I/O: the tree builder and the tests use them directly.
 */

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';
export type EntryMode = '100644' | '100755' | '40000';

export const EMPTY_TREE_OID = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Loose objects are deflated at level 1 (git's core.looseCompression default): fast, and what `git add` does. */
const LOOSE_COMPRESSION = 1;

export interface EncodedObject {
  oid: string;
  /** The zlib stream of "<type> <size>\0<body>", exactly the loose object file. */
  deflated: Buffer;
}

export function encodeObject(type: ObjectType, body: Buffer): EncodedObject {
  const full = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]);
  return { oid: createHash('sha1').update(full).digest('hex'), deflated: deflateSync(full, { level: LOOSE_COMPRESSION }) };
}

/** The object id alone (for tests and checks). */
export function hashObject(type: ObjectType, body: Buffer): string {
  return createHash('sha1').update(`${type} ${body.length}\0`).update(body).digest('hex');
}

export interface TreeEntry {
  name: string;
  mode: EntryMode;
  oid: string;
}

export type TreeEntryRule = 'empty' | 'dot' | 'dot-dot' | 'git-dir' | 'slash' | 'nul' | 'too-long';

const MAX_ENTRY_NAME_BYTES = 4096;

/**
 * Why a tree entry name must not be written, or null. Checked again right before every tree is
 * written, whatever the database holds: isomorphic-git and zlib write any name they are given.
 */
export function checkTreeEntryName(name: string): TreeEntryRule | null {
  if (name.length === 0) return 'empty';
  if (name === '.') return 'dot';
  if (name === '..') return 'dot-dot';
  if (name.includes('/')) return 'slash';
  if (name.includes('\0')) return 'nul';
  if (Buffer.byteLength(name) > MAX_ENTRY_NAME_BYTES) return 'too-long';
  if (isGitDir(name)) return 'git-dir';
  return null;
}

/** Git's tree order: by bytes, a subtree compared as if its name ended with "/". */
function sortKey(entry: TreeEntry): Buffer {
  return Buffer.from(entry.mode === '40000' ? `${entry.name}/` : entry.name);
}

export function sortTreeEntries(entries: TreeEntry[]): TreeEntry[] {
  const keyed = entries.map((entry) => ({ entry, key: sortKey(entry) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map(({ entry }) => entry);
}

/** The body of a tree object; entries in any order (they are sorted here). Names must be checked first. */
export function encodeTreeBody(entries: TreeEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of sortTreeEntries(entries)) {
    parts.push(Buffer.from(`${entry.mode} ${entry.name}\0`), Buffer.from(entry.oid, 'hex'));
  }
  return Buffer.concat(parts);
}

export interface Identity {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  timestamp: number;
}

/** `Name <email> 1700000000 +0000`: times are written in UTC. */
export function formatIdentity(identity: Identity): string {
  return `${identity.name} <${identity.email}> ${Math.floor(identity.timestamp)} +0000`;
}

export interface CommitFields {
  tree: string;
  parents: string[];
  author: Identity;
  committer: Identity;
  /** The full message, trailers included; a final newline is added when missing. */
  message: string;
}

export function encodeCommitBody(commit: CommitFields): Buffer {
  const lines = [`tree ${commit.tree}`, ...commit.parents.map((parent) => `parent ${parent}`)];
  lines.push(`author ${formatIdentity(commit.author)}`, `committer ${formatIdentity(commit.committer)}`);
  const message = commit.message.endsWith('\n') ? commit.message : `${commit.message}\n`;
  return Buffer.from(`${lines.join('\n')}\n\n${message}`);
}

/**
 * The commit message with trailers as its last paragraph (`git interpret-trailers` reads them,
 * `git log --format=%(trailers)` shows them), so a commit names what produced it.
 */
export function withTrailers(message: string, trailers: Array<[string, string]>): string {
  const body = message.replace(/\s+$/, '');
  const block = trailers.map(([key, value]) => `${key}: ${value}`).join('\n');
  return block ? `${body}\n\n${block}\n` : `${body}\n`;
}

/** Reads the value of one trailer from a commit message (the last occurrence), or undefined. */
export function readTrailer(message: string, key: string): string | undefined {
  const lines = message.split('\n').reverse();
  const prefix = `${key}: `;
  return lines.find((line) => line.startsWith(prefix))?.slice(prefix.length).trim();
}
