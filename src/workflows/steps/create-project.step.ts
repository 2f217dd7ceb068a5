import { DomainError } from '../../common/domain-error.js';
import { TemplatesService } from '../../generator/templates.service.js';
import { BUILTIN_TEMPLATE_NAMES } from '../../generator/templates/builtin-templates.js';
import type { GeneratedProject } from '../../projects/generated-project.entity.js';
import { ProjectsService } from '../../projects/projects.service.js';
import { finalIfRefused, NonRetryableStepError, StepContext, StepExecutor, StepHandler } from '../step-executor.js';

interface CreateProjectInput {
  name: string;
  slug?: string;
  description?: string;
  metadata?: Record<string, unknown>;
  template?: string;
  variables?: Record<string, string>;
}

interface CreateProjectOutput {
  projectId: string;
  slug: string;
  name: string;
  template: string | null;
  fileCount: number;
  /** False when an earlier execution of this step had already created it. */
  created: boolean;
}

/** The project's metadata key that ties it to the run and step that made it (what makes the step idempotent). */
export const CREATED_BY_KEY = 'forgelineWorkflow';
/** In the metadata of a project made from a template, until its files are all written. */
const INCOMPLETE_KEY = 'forgelineIncomplete';

@StepExecutor({
  type: 'create_project',
  description: 'Create a project, empty or from a built-in template with variables (run again, it returns the project it created the first time)',
  input: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 200 },
      slug: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' },
      description: { type: 'string', maxLength: 10000 },
      metadata: { type: 'object', description: 'Empty projects only (a template records where it came from)' },
      template: { enum: BUILTIN_TEMPLATE_NAMES, description: 'A built-in template (GET /api/templates); omitted: an empty project' },
      variables: { type: 'object', additionalProperties: { type: 'string' }, description: 'The template\'s variables' },
    },
  },
  output: {
    type: 'object',
    required: ['projectId', 'slug', 'name', 'template', 'fileCount', 'created'],
    properties: {
      projectId: { type: 'string', format: 'uuid' },
      slug: { type: 'string' },
      name: { type: 'string' },
      template: { type: ['string', 'null'] },
      fileCount: { type: 'integer' },
      created: { type: 'boolean' },
    },
  },
})
export class CreateProjectStep implements StepHandler<CreateProjectInput, CreateProjectOutput> {
  constructor(
    private readonly projects: ProjectsService,
    private readonly templates: TemplatesService,
  ) {}

  async run(input: CreateProjectInput, ctx: StepContext): Promise<CreateProjectOutput> {
    const tag = { runId: ctx.runId, stepId: ctx.stepId };
    const existing = await findCreatedBy(this.projects, ctx.workspaceId, tag);
    if (existing && existing.metadata[INCOMPLETE_KEY] === true) {
      // An earlier execution stopped (or timed out) while it wrote the template's files: start over.
      ctx.logger.warn(`project ${existing.id}, left incomplete by an earlier execution, is deleted and made again`);
      await this.projects.remove(ctx.workspaceId, existing.id).catch((error: unknown) => {
        // Gone already is fine; any other failure must not lead to a second project with the same tag.
        if (!(error instanceof DomainError && error.code === 'PROJECT_NOT_FOUND')) throw error;
      });
    } else if (existing) {
      ctx.logger.info(`project ${existing.id} was already created by this step`);
      return describe(existing, input.template ?? null, false);
    }
    if (!input.template) {
      if (input.variables) throw new NonRetryableStepError('variables are for a template: give template too');
      const project = await this.projects
        .create(ctx.workspaceId, { name: input.name, slug: input.slug, description: input.description, metadata: { ...(input.metadata ?? {}), [CREATED_BY_KEY]: tag } })
        .catch(finalIfRefused);
      ctx.logger.info(`created project ${project.id} (${project.slug})`);
      return describe(project, null, true);
    }
    if (input.metadata) throw new NonRetryableStepError('metadata is for empty projects: a template records where it came from');
    // Tagged from the start, so a re-run finds it whatever happened, and marked incomplete until
    // its files are all in: a re-run makes again a project whose execution stopped half-way.
    const project = await this.templates.instantiateBuiltin(
      ctx.workspaceId,
      { template: input.template, name: input.name, slug: input.slug, description: input.description, variables: input.variables },
      { [CREATED_BY_KEY]: tag, [INCOMPLETE_KEY]: true },
    ).catch(finalIfRefused);
    // Finished even when the step was aborted meanwhile: a re-run then finds the project complete.
    const { [INCOMPLETE_KEY]: _incomplete, ...metadata } = project.metadata;
    const tagged = await this.projects.update(ctx.workspaceId, project.id, { metadata });
    ctx.logger.info(`created project ${project.id} (${project.slug}) from template "${input.template}" with ${project.fileCount} files`);
    return describe(tagged, input.template, true);
  }
}

export async function findCreatedBy(projects: ProjectsService, workspaceId: string, tag: { runId: string; stepId: string }): Promise<GeneratedProject | null> {
  return projects.projects
    .query(workspaceId, 'p')
    .andWhere('p.metadata @> CAST(:tag AS jsonb)', { tag: JSON.stringify({ [CREATED_BY_KEY]: tag }) })
    .getOne();
}

function describe(project: GeneratedProject, template: string | null, created: boolean): CreateProjectOutput {
  return { projectId: project.id, slug: project.slug, name: project.name, template, fileCount: project.fileCount, created };
}
