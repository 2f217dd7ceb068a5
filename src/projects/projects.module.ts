import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GeneratedProject } from './generated-project.entity.js';
import { ProjectFile } from './project-file.entity.js';
import { ProjectFilesController } from './project-files.controller.js';
import { ProjectFilesService } from './project-files.service.js';
import { ProjectsController } from './projects.controller.js';
import { ProjectsService } from './projects.service.js';

/** Projects and their files in PostgreSQL. Other modules read and write them through the services. */
@Module({
  imports: [TypeOrmModule.forFeature([GeneratedProject, ProjectFile])],
  controllers: [ProjectsController, ProjectFilesController],
  providers: [ProjectsService, ProjectFilesService],
  exports: [ProjectsService, ProjectFilesService],
})
export class ProjectsModule {}
