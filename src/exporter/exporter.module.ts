import { Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { FastifyInstance } from 'fastify';
import { ProjectsModule } from '../projects/projects.module.js';
import { ExportProcessor } from './export.processor.js';
import { ExportsController } from './exports.controller.js';
import { ExportsService } from './exports.service.js';
import { GitCredential } from './git-credential.entity.js';
import { GitCredentialsController } from './git-credentials.controller.js';
import { GitCredentialsService } from './git-credentials.service.js';
import { GitHttpController } from './git-http.controller.js';
import { GitHttpService } from './git-http.service.js';
import { GitService } from './git.service.js';
import { OutboundHttp } from './outbound-http.js';
import { RepositoryExport } from './repository-export.entity.js';
import { RepositoryExporter } from './repository-exporter.js';
import { RepositorySnapshot } from './repository-snapshot.entity.js';

const UPLOAD_PACK_REQUEST = 'application/x-git-upload-pack-request';

/**
 * Git export: a bare repository per project, commits built straight from PostgreSQL, pushes to
 * remotes, `git clone` over /git/. Exports run as `export` jobs on the queue seam (QueueModule).
 * Other modules use ExportsService (the workflow step), RepositoryExporter, and OutboundHttp, the
 * one outbound HTTP client (private addresses refused, no credentials across redirects).
 */
@Module({
  imports: [TypeOrmModule.forFeature([RepositoryExport, GitCredential, RepositorySnapshot]), ProjectsModule],
  controllers: [ExportsController, GitCredentialsController, GitHttpController],
  providers: [GitService, OutboundHttp, RepositoryExporter, ExportsService, GitCredentialsService, ExportProcessor, GitHttpService],
  exports: [RepositoryExporter, ExportsService, OutboundHttp],
})
export class ExporterModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** `git fetch` posts its negotiation as a stream for upload-pack: hand it over unparsed. */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance?.() as FastifyInstance | undefined;
    if (!fastify || typeof fastify.addContentTypeParser !== 'function' || fastify.hasContentTypeParser(UPLOAD_PACK_REQUEST)) return;
    fastify.addContentTypeParser(UPLOAD_PACK_REQUEST, (_request, payload, done) => done(null, payload));
  }
}
