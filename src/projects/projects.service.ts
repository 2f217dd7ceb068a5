import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { DomainError } from '../common/domain-error.js';
import { escapeLike, Page } from '../common/pagination.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { CreateProjectDto, ListProjectsQueryDto, UpdateProjectDto } from './dto/project.dto.js';
import { GeneratedProject } from './generated-project.entity.js';
import { slugify } from './slug.js';

const UNIQUE_VIOLATION = '23505';
const MAX_DERIVED_SLUG_TRIES = 20;

export const projectNotFound = (id: string) => new DomainError('PROJECT_NOT_FOUND', `Project ${id} does not exist`);

/** What another module keeps of a project outside the database, removed once the project is deleted. */
export type ProjectRemovalHook = (projectId: string) => Promise<void> | void;

@Injectable()
export class ProjectsService {
  private readonly logger = new Logger('Projects');
  readonly projects: WorkspaceScopedRepository<GeneratedProject>;
  private readonly removalHooks: ProjectRemovalHook[] = [];

  constructor(@InjectRepository(GeneratedProject) repository: Repository<GeneratedProject>) {
    this.projects = new WorkspaceScopedRepository(repository, projectNotFound);
  }

  async create(workspaceId: string, dto: CreateProjectDto): Promise<GeneratedProject> {
    if (dto.slug) return this.insert(workspaceId, dto, dto.slug);
    // A derived slug takes the first free suffix ("api", "api-2", ...); an explicit one is taken as is.
    const base = slugify(dto.name, 90) || 'project';
    for (let attempt = 1; attempt <= MAX_DERIVED_SLUG_TRIES; attempt++) {
      const slug = attempt === 1 ? base : `${base}-${attempt}`;
      try {
        return await this.insert(workspaceId, dto, slug);
      } catch (error) {
        if (!(error instanceof DomainError && error.code === 'SLUG_CONFLICT')) throw error;
      }
    }
    return this.insert(workspaceId, dto, `${base}-${Date.now().toString(36)}`);
  }

  async list(workspaceId: string, query: ListProjectsQueryDto): Promise<Page<GeneratedProject>> {
    return this.projects.page(workspaceId, query, (builder) => {
      if (query.q) builder.andWhere('(e.name ILIKE :q OR e.slug ILIKE :q)', { q: `%${escapeLike(query.q)}%` });
    });
  }

  get(workspaceId: string, id: string): Promise<GeneratedProject> {
    return this.projects.get(workspaceId, id);
  }

  async getBySlug(workspaceId: string, slug: string): Promise<GeneratedProject> {
    const [project] = await this.projects.find(workspaceId, { slug });
    if (!project) throw new DomainError('PROJECT_NOT_FOUND', `Project "${slug}" does not exist`);
    return project;
  }

  async update(workspaceId: string, id: string, dto: UpdateProjectDto): Promise<GeneratedProject> {
    // Only the fields sent: the file count and total size belong to concurrent file writes.
    const changes = Object.fromEntries(Object.entries(dto).filter(([, value]) => value !== undefined));
    await this.saveOrConflict(() => this.projects.update(workspaceId, id, changes), dto.slug ?? '');
    return this.get(workspaceId, id);
  }

  /**
   * Deletes the project (its files and exports go with it, by cascade), then what other modules
   * keep of it on disk (its workspace folder, its Git repository): see onRemoved.
   */
  async remove(workspaceId: string, id: string): Promise<void> {
    await this.projects.delete(workspaceId, id);
    for (const hook of this.removalHooks) {
      try {
        await hook(id);
      } catch (error) {
        // The project is gone either way: what is left on disk is unreachable through the API.
        this.logger.warn(`project ${id} deleted, but cleaning up after it failed: ${(error as Error).message}`);
      }
    }
  }

  /** Registers what to remove once a project is deleted (the generator's folder, the exporter's repository). */
  onRemoved(hook: ProjectRemovalHook): void {
    this.removalHooks.push(hook);
  }

  private async insert(workspaceId: string, dto: CreateProjectDto, slug: string): Promise<GeneratedProject> {
    const project = this.projects.create(workspaceId, { ...dto, slug });
    await this.saveOrConflict(() => this.projects.save(workspaceId, project), slug);
    return this.get(workspaceId, project.id);
  }

  private async saveOrConflict(write: () => Promise<unknown>, slug: string): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === UNIQUE_VIOLATION) {
        const message = `slug "${slug}" is already taken in this workspace`;
        throw new DomainError('SLUG_CONFLICT', message, [{ field: 'slug', rule: 'unique', message }]);
      }
      throw error;
    }
  }
}
