import { Module } from '@nestjs/common';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { ArchiveService } from './archive.service.js';
import { GeneratorController } from './generator.controller.js';
import { ProjectContentRepository } from './project-content.repository.js';
import { ProjectGenerator } from './project-generator.service.js';
import { TemplatesController } from './templates.controller.js';
import { TemplatesService } from './templates.service.js';
import { WorkspaceStorage } from './workspace.storage.js';

/** Materialises projects on disk, streams them as archives and creates projects from templates. */
@Module({
  imports: [ProjectsModule],
  controllers: [GeneratorController, TemplatesController],
  providers: [
    ProjectGenerator,
    ArchiveService,
    TemplatesService,
    ProjectContentRepository,
    {
      provide: WorkspaceStorage,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new WorkspaceStorage(config.WORKSPACES_DIR ?? join(config.DATA_DIR, 'workspaces')),
    },
  ],
  exports: [ProjectGenerator, TemplatesService],
})
export class GeneratorModule {}
