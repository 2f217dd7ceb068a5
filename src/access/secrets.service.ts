import { Injectable, OnModuleInit, Logger } from '@nestjs/common';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config.js';

const VERSION = 'v1';
const IV_BYTES = 12;

/**
 * Encrypts secrets at rest with AES-256-GCM. The `context` (e.g. "workspace:<id>:secret:<name>")
 * is bound as additional authenticated data, so a ciphertext copied to another row fails to
 * decrypt. Values never leave this class except to the code that uses them.
 */
@Injectable()
export class SecretsService implements OnModuleInit {
  private readonly logger = new Logger(SecretsService.name);
  private key?: Buffer;

  constructor(private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    this.key = await this.loadKey();
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.requireKey(), iv).setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
  }

  decrypt(sealed: string, context: string): string {
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== VERSION || !iv || !tag || ciphertext === undefined) throw new Error('Unreadable secret (unknown format)');
    const decipher = createDecipheriv('aes-256-gcm', this.requireKey(), Buffer.from(iv, 'base64url'))
      .setAAD(Buffer.from(context))
      .setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('Unreadable secret (wrong SECRETS_KEY or tampered ciphertext)');
    }
  }

  private requireKey(): Buffer {
    if (!this.key) throw new Error('SecretsService used before initialisation');
    return this.key;
  }

  private async loadKey(): Promise<Buffer> {
    const configured = this.config.SECRETS_KEY;
    if (configured) return Buffer.from(configured, configured.length === 64 ? 'hex' : 'base64');
    // The embedded default only (the config requires SECRETS_KEY with DATABASE_URL).
    const file = join(this.config.DATA_DIR, 'secrets.key');
    if (!existsSync(file)) {
      await mkdir(this.config.DATA_DIR, { recursive: true });
      // Written whole under a temporary name, then linked into place: a second process
      // starting at the same moment reads one complete key, never half of one.
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
      const created = await link(temporary, file).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
          return false;
        },
      );
      await unlink(temporary);
      if (created) this.logger.warn(`SECRETS_KEY is not set: generated one into ${file}. Keep it: without it the stored secrets cannot be read.`);
    }
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key (base64); restore it, or set SECRETS_KEY`);
    return key;
  }
}
