import { Controller, Get, Headers, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { Public } from '../access/auth-context.js';
import { DomainError } from '../common/domain-error.js';
import { GitHttpService } from './git-http.service.js';

const NO_CACHE = 'no-cache, max-age=0, must-revalidate';
/** Objects never change under their name; they are still private to the key's workspace. */
const IMMUTABLE = 'private, max-age=31536000, immutable';
const FANOUT = /^[0-9a-f]{2}$/;
const REST = /^[0-9a-f]{38}$/;
const PACK_FILE = /^pack-[0-9a-f]{40}\.(pack|idx)$/;

/**
 * `git clone http://HOST/git/{projectSlug}.git`: outside /api (no bearer guard, no OpenAPI
 * entry), with its own Basic auth (an API key as the password). Read-only: pushes are refused.
 */
@ApiExcludeController()
@Public()
@Controller('git')
export class GitHttpController {
  constructor(private readonly gitHttp: GitHttpService) {}

  @Get(':repo/info/refs')
  async infoRefs(@Param('repo') repo: string, @Query('service') service: string | undefined, @Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    if (service === 'git-receive-pack') throw new DomainError('FORBIDDEN', 'These repositories are read-only: Forgeline writes them from the project\'s files (POST /api/projects/{id}/exports)');
    const gitdir = await this.repository(authorization, repo, reply);
    if (service === 'git-upload-pack') {
      const body = await this.gitHttp.advertisement(gitdir);
      await reply.header('content-type', 'application/x-git-upload-pack-advertisement').header('cache-control', NO_CACHE).send(body);
      return;
    }
    await reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', NO_CACHE).send(await this.gitHttp.dumbInfoRefs(gitdir));
  }

  @Post(':repo/git-upload-pack')
  async uploadPack(@Param('repo') repo: string, @Headers('authorization') authorization: string | undefined, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    if (request.headers['content-type'] !== 'application/x-git-upload-pack-request' || !(request.body instanceof Readable)) {
      throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Expected an application/x-git-upload-pack-request body');
    }
    const gitdir = await this.repository(authorization, repo, reply);
    const output = this.gitHttp.uploadPack(gitdir, request.body, request.headers['content-encoding'], (listener) => reply.raw.once('close', listener));
    // 200, not the 201 of a POST route: clients such as isomorphic-git accept nothing else.
    await reply.status(200).header('content-type', 'application/x-git-upload-pack-result').header('cache-control', NO_CACHE).send(output);
  }

  @Post(':repo/git-receive-pack')
  receivePack(): never {
    throw new DomainError('FORBIDDEN', 'These repositories are read-only: Forgeline writes them from the project\'s files');
  }

  @Get(':repo/HEAD')
  async head(@Param('repo') repo: string, @Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const gitdir = await this.repository(authorization, repo, reply);
    await reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', NO_CACHE).send(await this.gitHttp.head(gitdir));
  }

  @Get(':repo/objects/info/packs')
  async packs(@Param('repo') repo: string, @Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const gitdir = await this.repository(authorization, repo, reply);
    await reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', NO_CACHE).send(await this.gitHttp.packs(gitdir));
  }

  @Get(':repo/objects/pack/:file')
  async pack(@Param('repo') repo: string, @Param('file') file: string, @Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const kind = PACK_FILE.exec(file)?.[1];
    if (!kind) throw new DomainError('ROUTE_NOT_FOUND', 'No such pack');
    const gitdir = await this.repository(authorization, repo, reply);
    const { stream, size } = await this.gitHttp.file(gitdir, { kind: 'pack', name: file });
    const type = kind === 'pack' ? 'application/x-git-packed-objects' : 'application/x-git-packed-objects-toc';
    await reply.header('content-type', type).header('content-length', size).header('cache-control', IMMUTABLE).send(stream);
  }

  @Get(':repo/objects/:fanout/:rest')
  async object(@Param('repo') repo: string, @Param('fanout') fanout: string, @Param('rest') rest: string, @Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    // objects/info/alternates and http-alternates land here too: there are none.
    if (!FANOUT.test(fanout) || !REST.test(rest)) throw new DomainError('ROUTE_NOT_FOUND', 'No such object');
    const gitdir = await this.repository(authorization, repo, reply);
    const { stream, size } = await this.gitHttp.file(gitdir, { kind: 'loose', fanout, rest });
    await reply.header('content-type', 'application/x-git-loose-object').header('content-length', size).header('cache-control', IMMUTABLE).send(stream);
  }

  /** Authenticates; a 401 carries `WWW-Authenticate: Basic`, so git asks for (or sends) credentials. */
  private async repository(authorization: string | undefined, repo: string, reply: FastifyReply): Promise<string> {
    try {
      return await this.gitHttp.repository(authorization, repo);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'UNAUTHENTICATED') void reply.header('www-authenticate', 'Basic realm="Forgeline Git", charset="UTF-8"');
      throw error;
    }
  }
}
