import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { DomainError } from '../common/domain-error.js';
import { escapeLike, Page } from '../common/pagination.js';
import { CreateProjectDto, ListProjectsQueryDto, UpdateProjectDto } from './dto/project.dto.js';
import { GeneratedProject } from './generated-project.entity.js';
import { slugify } from './slug.js';

const UNIQUE_VIOLATION = '23505';
const MAX_DERIVED_SLUG_TRIES = 20;

@Injectable()
export class ProjectsService {
  constructor(@InjectRepository(GeneratedProject) private readonly projects: Repository<GeneratedProject>) {}

  async create(dto: CreateProjectDto): Promise<GeneratedProject> {
    if (dto.slug) return this.insert(dto, dto.slug);
    // A derived slug takes the first free suffix ("api", "api-2", ...); an explicit one is taken as is.
    const base = slugify(dto.name, 90) || 'project';
    for (let attempt = 1; attempt <= MAX_DERIVED_SLUG_TRIES; attempt++) {
      const slug = attempt === 1 ? base : `${base}-${attempt}`;
      try {
        return await this.insert(dto, slug);
      } catch (error) {
        if (!(error instanceof DomainError && error.code === 'SLUG_CONFLICT')) throw error;
      }
    }
    return this.insert(dto, `${base}-${Date.now().toString(36)}`);
  }

  async list(query: ListProjectsQueryDto): Promise<Page<GeneratedProject>> {
    const builder = this.projects.createQueryBuilder('p').orderBy('p.created_at', 'DESC').addOrderBy('p.id').take(query.limit).skip(query.offset);
    if (query.q) builder.where('(p.name ILIKE :q OR p.slug ILIKE :q)', { q: `%${escapeLike(query.q)}%` });
    const [items, total] = await builder.getManyAndCount();
    return { items, total, limit: query.limit, offset: query.offset };
  }

  async get(id: string): Promise<GeneratedProject> {
    const project = await this.projects.findOneBy({ id });
    if (!project) throw new DomainError('PROJECT_NOT_FOUND', `Project ${id} does not exist`);
    return project;
  }

  async update(id: string, dto: UpdateProjectDto): Promise<GeneratedProject> {
    const project = await this.get(id);
    Object.assign(project, dto);
    await this.save(() => this.projects.save(project), project.slug);
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    const result = await this.projects.delete({ id });
    if (!result.affected) throw new DomainError('PROJECT_NOT_FOUND', `Project ${id} does not exist`);
  }

  private async insert(dto: CreateProjectDto, slug: string): Promise<GeneratedProject> {
    const project = this.projects.create({ ...dto, slug });
    await this.save(() => this.projects.save(project), slug);
    return this.get(project.id);
  }

  private async save(write: () => Promise<unknown>, slug: string): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === UNIQUE_VIOLATION) {
        throw new DomainError('SLUG_CONFLICT', `slug "${slug}" is already taken`, [{ field: 'slug', rule: 'unique', message: `slug "${slug}" is already taken` }]);
      }
      throw error;
    }
  }
}
