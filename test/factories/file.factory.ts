import { randomBytes } from 'node:crypto';

export interface FileInput {
  path: string;
  content: string;
  encoding?: 'utf8' | 'base64';
  executable?: boolean;
}

/** A UTF-8 text file entry of an upsert batch. */
export function textFile(path: string, text = `content of ${path}\n`, extra: Partial<FileInput> = {}): FileInput {
  return { path, content: text, ...extra };
}

/** A binary file entry of an upsert batch, sent as base64. */
export function binaryFile(path: string, bytes: Buffer = randomBytes(64), extra: Partial<FileInput> = {}): FileInput {
  return { path, content: bytes.toString('base64'), encoding: 'base64', ...extra };
}

/** The exact bytes a file entry stands for. */
export function bytesOf(file: FileInput): Buffer {
  return file.encoding === 'base64' ? Buffer.from(file.content, 'base64') : Buffer.from(file.content, 'utf8');
}
