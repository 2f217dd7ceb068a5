import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestApp } from './test-app.js';
import type { FileInput } from '../factories/file.factory.js';

type Agent = TestApp['api'];

export interface TreeFile {
  content: Buffer;
  executable: boolean;
}

/** Every regular file under `root` (relative POSIX paths), with its bytes and executable bit; fails on anything else. */
export function readTree(root: string): Map<string, TreeFile> {
  const files = new Map<string, TreeFile>();
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(root, relative), { withFileTypes: true })) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.set(path, { content: readFileSync(join(root, path)), executable: (lstatSync(join(root, path)).mode & 0o111) !== 0 });
      else throw new Error(`${path} under ${root} is neither a file nor a folder`);
    }
  };
  walk('');
  return files;
}

/** Every folder under `root`, relative. */
export function foldersOf(root: string): string[] {
  const folders: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(root, relative), { withFileTypes: true })) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        folders.push(path);
        walk(path);
      }
    }
  };
  walk('');
  return folders.sort();
}

/** Uploads files in batches the API accepts. */
export async function putFiles(api: Agent, projectId: string, files: FileInput[], batch = 1000): Promise<void> {
  for (let start = 0; start < files.length; start += batch) {
    const res = await api.put(`/api/projects/${projectId}/files`).send({ files: files.slice(start, start + batch) });
    if (res.status !== 200) throw new Error(`upsert answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
}
