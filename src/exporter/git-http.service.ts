import { Injectable, Logger } from '@nestjs/common';
import { ChildProcess } from 'node:child_process';
import { createReadStream, ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ApiKeysService } from '../access/api-keys.service.js';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { ProjectsService } from '../projects/projects.service.js';
import { SLUG_PATTERN } from '../projects/dto/project.dto.js';
import { GitService } from './git.service.js';

const BASIC = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** "0032# service=git-upload-pack\n" */
export function pktLine(text: string): Buffer {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0')), payload]);
}

export type DumbFile = { kind: 'loose'; fanout: string; rest: string } | { kind: 'pack'; name: string };

/**
 * Serves a project's repository to `git clone http://HOST/git/{slug}.git`: HTTP Basic auth with
 * an API key as the password (any username; read scope is enough), the smart protocol through
 * `git upload-pack --stateless-rpc`, and the dumb protocol's files for older clients.
 */
@Injectable()
export class GitHttpService {
  private readonly logger = new Logger('GitHttp');

  constructor(
    private readonly apiKeys: ApiKeysService,
    private readonly projects: ProjectsService,
    private readonly git: GitService,
    private readonly config: AppConfig,
  ) {}

  /** The repository `repo` ("<slug>.git") names in the caller's workspace, or a DomainError (401, 403, 404). */
  async repository(authorization: string | undefined, repo: string): Promise<string> {
    const token = tokenOf(authorization);
    if (!token) throw new DomainError('UNAUTHENTICATED', 'Send an API key as the password of HTTP Basic auth (any username)');
    const auth = await this.apiKeys.authenticate(token);
    if (auth.allowedOperations) throw new DomainError('FORBIDDEN', 'This key is limited to named API operations and cannot clone repositories');
    const slug = repo.endsWith('.git') ? repo.slice(0, -4) : repo;
    if (!SLUG_PATTERN.test(slug)) throw new DomainError('PROJECT_NOT_FOUND', `Project "${slug.slice(0, 100)}" does not exist`);
    const project = await this.projects.getBySlug(auth.workspaceId, slug);
    if (!this.git.exists(project.id)) throw new DomainError('REPOSITORY_NOT_FOUND', `Project "${slug}" has no Git repository yet: export it first (POST /api/projects/${project.id}/exports)`);
    return this.git.pathOf(project.id);
  }

  /** Body of GET info/refs?service=git-upload-pack. */
  async advertisement(gitdir: string): Promise<Buffer> {
    const child = this.git.spawnUploadPack(gitdir, true);
    child.stdin?.end();
    const refs = await collectOutput(child, this.logger);
    return Buffer.concat([pktLine('# service=git-upload-pack\n'), Buffer.from('0000'), refs]);
  }

  /**
   * Runs one stateless upload-pack exchange: the request body (gunzipped when the client sent
   * it compressed, at most GIT_UPLOAD_PACK_MAX_REQUEST_BYTES) in, the pack out.
   */
  uploadPack(gitdir: string, body: Readable, contentEncoding: string | undefined, onClose: (listener: () => void) => void): Readable {
    const child = this.git.spawnUploadPack(gitdir, false);
    let input: Readable = body;
    if (contentEncoding && /gzip/i.test(contentEncoding)) input = input.pipe(createGunzip());
    const limit = this.config.GIT_UPLOAD_PACK_MAX_REQUEST_BYTES;
    let received = 0;
    const limiter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > limit) return done(new Error(`upload-pack request over GIT_UPLOAD_PACK_MAX_REQUEST_BYTES=${limit}`));
        done(null, chunk);
      },
    });
    const fail = (error: Error) => {
      this.logger.warn(`upload-pack request aborted: ${error.message}`);
      child.kill('SIGKILL');
    };
    input.on('error', fail);
    limiter.on('error', fail);
    // A git that could not start (EAGAIN, EMFILE, ENOMEM) ends this response, not the process.
    child.on('error', (error) => {
      fail(error);
      child.stdout?.destroy(error);
    });
    child.stdin?.on('error', () => undefined); // The process may exit before reading everything.
    input.pipe(limiter).pipe(child.stdin!);
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => void (stderr = (stderr + data.toString()).slice(-2000)));
    child.on('exit', (code, signal) => {
      if (code !== 0) this.logger.warn(`git upload-pack exited with ${code ?? signal}: ${stderr.trim()}`);
    });
    onClose(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    return child.stdout!;
  }

  dumbInfoRefs(gitdir: string): Promise<string> {
    return this.git.dumbInfoRefs(gitdir);
  }

  head(gitdir: string): Promise<string> {
    return this.git.headFile(gitdir);
  }

  packs(gitdir: string): Promise<string> {
    return this.git.packList(gitdir);
  }

  /** A loose object or a pack file, by names already checked against strict patterns. */
  async file(gitdir: string, file: DumbFile): Promise<{ stream: ReadStream; size: number }> {
    const path = file.kind === 'loose' ? join(gitdir, 'objects', file.fanout, file.rest) : join(gitdir, 'objects', 'pack', file.name);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) throw new DomainError('ROUTE_NOT_FOUND', 'No such object');
    return { stream: createReadStream(path), size: info.size };
  }
}

/** The API key of a Basic (password, or the username when the password is empty) or Bearer header. */
function tokenOf(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const bearer = BEARER.exec(authorization);
  if (bearer) return bearer[1];
  const basic = BASIC.exec(authorization);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const username = colon === -1 ? decoded : decoded.slice(0, colon);
  const password = colon === -1 ? '' : decoded.slice(colon + 1);
  return password || username || null;
}

async function collectOutput(child: ChildProcess, logger: Logger): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    logger.warn(`git upload-pack --advertise-refs exited with ${code}: ${stderr.trim()}`);
    throw new Error('git upload-pack failed');
  }
  return Buffer.concat(chunks);
}
