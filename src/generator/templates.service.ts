import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { MAX_PATH_BYTES, normaliseProjectPath, parentFolders } from '../common/project-path.js';
import type { FileInputDto } from '../projects/dto/project-file.dto.js';
import { GeneratedProject } from '../projects/generated-project.entity.js';
import { ProjectFilesService } from '../projects/project-files.service.js';
import { ProjectsService } from '../projects/projects.service.js';
import { InstantiateProjectDto, InstantiateTemplateDto } from './dto/instantiate.dto.js';
import { TemplateDto } from './dto/template.dto.js';
import { globMatcher, globPatterns, PathMatcher } from './glob.js';
import { ProjectContentRepository } from './project-content.repository.js';
import { BuiltinTemplate, TemplateVariable } from './template-definition.js';
import { CompiledTemplate, compileTemplate, isBinary, renderedBytes, renderTemplate, templateInvalid, VARIABLE_NAME } from './template-renderer.js';
import { checkPathValue, checkVariablesUsed, resolveVariables } from './template-variables.js';
import { BUILTIN_TEMPLATES } from './templates/builtin-templates.js';

/** A project used as a template may list files to copy untouched here, one glob per line. */
export const RAW_LIST_FILE = '.forgeline-raw';

interface SourceFile {
  path: string;
  content: Buffer;
  executable: boolean;
}

/** Where a template's files come from: a built-in definition, or a project's files in the database. */
interface TemplateSource {
  variables: TemplateVariable[];
  /** Files copied untouched (besides binary files, which always are). */
  isRaw: PathMatcher;
  /** Recorded in the new project's metadata. */
  provenance: Record<string, unknown>;
  batches(): AsyncIterable<SourceFile[]>;
}

interface CompiledFile {
  path: CompiledTemplate;
  /** null: the content is copied untouched. */
  content: CompiledTemplate | null;
}

const fieldOf = (path: string) => `files[${JSON.stringify(path)}]`;

/**
 * Creates projects from templates: a built-in one, or any project. Paths and contents are
 * rendered with the caller's variables (see template-renderer.ts: logic-less, no code runs);
 * binary files and files matched by `.forgeline-raw` or `metadata.template.raw` are copied
 * untouched. The whole template is checked before the project is created, and a failure
 * while writing deletes the new project again: an instantiation succeeds whole or not at all.
 */
@Injectable()
export class TemplatesService {
  private readonly logger = new Logger(TemplatesService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly projects: ProjectsService,
    private readonly files: ProjectFilesService,
    private readonly content: ProjectContentRepository,
  ) {}

  list(): TemplateDto[] {
    return BUILTIN_TEMPLATES.map((template) => ({
      name: template.name,
      description: template.description,
      variables: template.variables.map((variable) => ({
        name: variable.name,
        description: variable.description,
        required: variable.default === undefined && variable.derive === undefined,
        ...(variable.default !== undefined ? { default: variable.default } : {}),
        ...(variable.derive ? { derivedFrom: variable.derive.from, derivedCase: variable.derive.case } : {}),
        ...(variable.pattern ? { pattern: variable.pattern } : {}),
        ...(variable.example !== undefined ? { example: variable.example } : {}),
      })),
      files: template.files.map((file) => file.path),
    }));
  }

  /** `extraMetadata` (callers inside the service, e.g. a workflow step tagging what it made) is stored with the project. */
  async instantiateBuiltin(workspaceId: string, dto: InstantiateTemplateDto, extraMetadata: Record<string, unknown> = {}): Promise<GeneratedProject> {
    const template = BUILTIN_TEMPLATES.find((candidate) => candidate.name === dto.template);
    if (!template) {
      const names = BUILTIN_TEMPLATES.map((candidate) => candidate.name).join(', ');
      const message = `No built-in template "${dto.template.slice(0, 100)}"; there are: ${names}`;
      throw new DomainError('TEMPLATE_NOT_FOUND', message, [{ field: 'template', rule: 'unknown-template', message }]);
    }
    return this.instantiate(workspaceId, builtinSource(template), dto, extraMetadata);
  }

  /** Any project of the workspace can serve as a template. */
  async instantiateProject(workspaceId: string, projectId: string, dto: InstantiateProjectDto, extraMetadata: Record<string, unknown> = {}): Promise<GeneratedProject> {
    const project = await this.projects.get(workspaceId, projectId);
    return this.instantiate(workspaceId, await this.projectSource(workspaceId, project), dto, extraMetadata);
  }

  private async instantiate(workspaceId: string, source: TemplateSource, dto: InstantiateProjectDto, extraMetadata: Record<string, unknown>): Promise<GeneratedProject> {
    const limits = { maxVariables: this.config.MAX_TEMPLATE_VARIABLES, maxValueBytes: this.config.MAX_TEMPLATE_VARIABLE_BYTES };
    const values = resolveVariables(source.variables, dto.variables, limits);
    await this.check(source, values, Object.keys(dto.variables ?? {}));
    const project = await this.projects.create(workspaceId, {
      name: dto.name,
      slug: dto.slug,
      description: dto.description,
      metadata: { ...extraMetadata, instantiatedFrom: source.provenance },
    });
    try {
      await this.write(workspaceId, project.id, source, values);
    } catch (error) {
      await this.projects.remove(workspaceId, project.id).catch((cleanup: unknown) => {
        this.logger.error(`could not delete half-instantiated project ${project.id}: ${String(cleanup)}`);
      });
      throw error;
    }
    return this.projects.get(workspaceId, project.id);
  }

  /**
   * Reads the whole template once, before anything is created: syntax, variables used and
   * missing, every rendered path (rules, duplicates, a file where a folder goes) and the
   * rendered sizes against the project limits, computed without rendering.
   */
  private async check(source: TemplateSource, values: ReadonlyMap<string, string>, given: string[]): Promise<void> {
    const used = new Set<string>();
    const rendered = new Map<string, string>();
    let missingSome = false;
    let totalBytes = 0;
    for await (const batch of source.batches()) {
      for (const file of batch) {
        if (file.path === RAW_LIST_FILE) continue;
        const compiled = this.compile(file, source);
        const names = [...compiled.path.variables, ...(compiled.content?.variables ?? [])];
        names.forEach((name) => used.add(name));
        if (names.some((name) => !values.has(name))) {
          missingSome = true;
          continue;
        }
        if (missingSome) continue;
        const path = this.renderPath(file.path, compiled.path, values);
        const earlier = rendered.get(path);
        if (earlier !== undefined) {
          const message = `${fieldOf(file.path)} and ${fieldOf(earlier)} both render to "${path}"`;
          throw new DomainError('PATH_INVALID', message, [{ field: `${fieldOf(file.path)}.path`, rule: 'duplicate-path', message }]);
        }
        rendered.set(path, file.path);
        const size = compiled.content ? renderedBytes(compiled.content, values) : file.content.length;
        if (size > this.config.MAX_FILE_BYTES) {
          const message = `${fieldOf(file.path)} renders to ${size} bytes; MAX_FILE_BYTES is ${this.config.MAX_FILE_BYTES}`;
          throw new DomainError('FILE_TOO_LARGE', message, [{ field: `${fieldOf(file.path)}.content`, rule: 'max-file-bytes', message }]);
        }
        totalBytes += size;
      }
    }
    checkVariablesUsed(source.variables, used, given, values);
    if (rendered.size > this.config.MAX_FILES_PER_PROJECT) {
      const message = `the template has ${rendered.size} files; MAX_FILES_PER_PROJECT is ${this.config.MAX_FILES_PER_PROJECT}`;
      throw new DomainError('TOO_MANY_FILES', message, [{ field: 'files', rule: 'max-files-per-project', message }]);
    }
    if (totalBytes > this.config.MAX_PROJECT_BYTES) {
      const message = `the template renders to ${totalBytes} bytes; MAX_PROJECT_BYTES is ${this.config.MAX_PROJECT_BYTES}`;
      throw new DomainError('PROJECT_TOO_LARGE', message, [{ field: 'variables', rule: 'max-project-bytes', message }]);
    }
    for (const path of rendered.keys()) {
      const folder = parentFolders(path).find((candidate) => rendered.has(candidate));
      if (folder !== undefined) {
        const message = `"${folder}" renders to a file and to the folder of "${path}"`;
        throw new DomainError('PATH_CONFLICT', message, [{ field: `${fieldOf(rendered.get(path)!)}.path`, rule: 'file-is-folder', message }]);
      }
    }
  }

  /** Renders and stores the files, in batches the files service accepts (each its own transaction). */
  private async write(workspaceId: string, projectId: string, source: TemplateSource, values: ReadonlyMap<string, string>): Promise<void> {
    let chunk: FileInputDto[] = [];
    let chunkBytes = 0;
    const flush = async () => {
      if (chunk.length > 0) await this.files.upsert(workspaceId, projectId, chunk);
      chunk = [];
      chunkBytes = 0;
    };
    for await (const batch of source.batches()) {
      for (const file of batch) {
        if (file.path === RAW_LIST_FILE) continue;
        const compiled = this.compile(file, source);
        const missing = [...compiled.path.variables, ...(compiled.content?.variables ?? [])].filter((name) => !values.has(name));
        // The template project changed since it was checked.
        if (missing.length > 0) checkVariablesUsed(source.variables, new Set(missing), [], values);
        const path = this.renderPath(file.path, compiled.path, values);
        const input: FileInputDto = compiled.content
          ? { path, content: renderTemplate(compiled.content, values), executable: file.executable }
          : { path, content: file.content.toString('base64'), encoding: 'base64', executable: file.executable };
        const size = compiled.content ? renderedBytes(compiled.content, values) : file.content.length;
        if (chunk.length >= this.config.MAX_BATCH_FILES || (chunk.length > 0 && chunkBytes + size > this.config.GENERATOR_BATCH_BYTES)) await flush();
        chunk.push(input);
        chunkBytes += size;
      }
    }
    await flush();
  }

  private compile(file: SourceFile, source: TemplateSource): CompiledFile {
    const field = fieldOf(file.path);
    const path = compileTemplate(file.path, `${field}.path`);
    if (source.isRaw(file.path) || isBinary(file.content)) return { path, content: null };
    return { path, content: compileTemplate(file.content.toString('utf8'), `${field}.content`) };
  }

  /** Renders a path; its values must stay single names, and the result passes the upload path rules. */
  private renderPath(templatePath: string, template: CompiledTemplate, values: ReadonlyMap<string, string>): string {
    for (const name of template.variables) checkPathValue(name, values.get(name)!, templatePath);
    return normaliseProjectPath(renderTemplate(template, values), `${fieldOf(templatePath)}.path`);
  }

  private async projectSource(workspaceId: string, project: GeneratedProject): Promise<TemplateSource> {
    const settings = templateSettings(project.metadata);
    let rawList: string[] = [];
    try {
      const file = await this.files.read(workspaceId, project.id, RAW_LIST_FILE);
      rawList = file.content.toString('utf8').split(/\r?\n/);
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'FILE_NOT_FOUND')) throw error;
    }
    const patterns = globPatterns([...rawList, ...settings.raw]);
    const max = this.config.MAX_TEMPLATE_RAW_PATTERNS;
    const field = () => (globPatterns(rawList).length > 0 ? RAW_LIST_FILE : 'metadata.template.raw');
    if (patterns.length > max) {
      const message = `${RAW_LIST_FILE} and metadata.template.raw hold ${patterns.length} glob patterns together; MAX_TEMPLATE_RAW_PATTERNS is ${max}`;
      throw templateInvalid(field(), 'max-patterns', message);
    }
    // Matching takes time in proportion to the pattern's length times the path's: no pattern is longer than a path may be.
    const long = patterns.find((pattern) => Buffer.byteLength(pattern) > MAX_PATH_BYTES);
    if (long !== undefined) {
      throw templateInvalid(field(), 'pattern-too-long', `a glob pattern of ${RAW_LIST_FILE} or metadata.template.raw is ${Buffer.byteLength(long)} bytes; a path, and so a pattern, is at most ${MAX_PATH_BYTES}`);
    }
    const batchBytes = this.config.GENERATOR_BATCH_BYTES;
    const content = this.content;
    return {
      variables: settings.variables,
      isRaw: globMatcher(patterns),
      provenance: { projectId: project.id, slug: project.slug },
      async *batches() {
        for await (const batch of content.contentBatches(project.id, batchBytes)) {
          yield batch.map((file) => ({ path: file.path, content: file.content, executable: file.executable }));
        }
      },
    };
  }
}

function builtinSource(template: BuiltinTemplate): TemplateSource {
  const files = template.files.map((file) => ({ path: file.path, content: Buffer.from(file.content, 'utf8'), executable: file.executable ?? false }));
  return {
    variables: template.variables,
    isRaw: () => false,
    provenance: { template: template.name },
    async *batches() {
      yield files;
    },
  };
}

/**
 * A project's template settings, from `metadata.template`:
 * `{ variables?: { <name>: { description?, default? } }, raw?: [<glob>, …] }`.
 */
function templateSettings(metadata: Record<string, unknown>): { variables: TemplateVariable[]; raw: string[] } {
  const settings = metadata?.template;
  if (settings === undefined || settings === null) return { variables: [], raw: [] };
  const bad = (field: string, message: string) => templateInvalid(`metadata.template${field}`, 'metadata', `metadata.template${field} ${message}`);
  if (typeof settings !== 'object' || Array.isArray(settings)) throw bad('', 'must be an object');
  const { variables = {}, raw = [] } = settings as { variables?: unknown; raw?: unknown };
  if (!Array.isArray(raw) || raw.some((glob) => typeof glob !== 'string')) throw bad('.raw', 'must be an array of glob strings');
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) throw bad('.variables', 'must be an object keyed by variable name');
  const declared = Object.entries(variables as Record<string, unknown>).map(([name, spec]): TemplateVariable => {
    const field = `.variables.${name.slice(0, 80)}`;
    if (!VARIABLE_NAME.test(name)) throw bad(field, 'is not a valid variable name');
    if (typeof spec !== 'object' || spec === null) throw bad(field, 'must be an object { description?, default? }');
    const { description = '', default: fallback, ...rest } = spec as { description?: unknown; default?: unknown };
    if (Object.keys(rest).length > 0) throw bad(field, `has unsupported keys (${Object.keys(rest).join(', ')}): only description and default`);
    if (typeof description !== 'string') throw bad(`${field}.description`, 'must be a string');
    if (fallback !== undefined && typeof fallback !== 'string') throw bad(`${field}.default`, 'must be a string');
    return { name, description, ...(fallback !== undefined ? { default: fallback } : {}) };
  });
  return { variables: declared, raw: raw as string[] };
}
