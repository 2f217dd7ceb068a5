import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { binaryFile, bytesOf, FileInput, textFile } from '../factories/file.factory.js';
import { createProject, ProjectBody } from '../factories/project.factory.js';
import { putFiles, readTree, TreeFile } from '../utils/file-tree.js';
import { expectError, expectErrorDetail } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

type Agent = TestApp['api'];

/** Syntax errors the TypeScript compiler finds in these files (TypeScript and JavaScript). */
function syntaxErrors(dir: string, paths: string[]): string[] {
  const program = ts.createProgram(
    paths.map((path) => join(dir, path)),
    { noResolve: true, noLib: true, allowJs: true, noEmit: true, types: [], experimentalDecorators: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext },
  );
  return program.getSyntacticDiagnostics().map((d) => `${d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('generator: templates', () => {
  let t: TestApp;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fl-templates-'));
    t = await startTestApp({ WORKSPACES_DIR: root });
  });

  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Materialises a project and returns its files. */
  async function filesOf(projectId: string): Promise<Map<string, TreeFile>> {
    const res = await t.api.post(`/api/projects/${projectId}/generate`).send({}).expect(200);
    return readTree(res.body.outputDir);
  }

  async function projectCount(api: Agent = t.api): Promise<number> {
    return (await api.get('/api/projects').expect(200)).body.total;
  }

  async function templateProject(files: FileInput[], metadata: Record<string, unknown> = {}): Promise<ProjectBody> {
    const project = await createProject(t.api, { metadata });
    await putFiles(t.api, project.id, files);
    return project;
  }

  const instantiate = (projectId: string, body: Record<string, unknown>) => t.api.post(`/api/projects/${projectId}/instantiate`).send({ name: 'From a template', ...body });

  describe('built-in templates', () => {
    it('lists the built-in templates with their variables, to a read key too', async () => {
      const key = await t.api.post('/api/api-keys').send({ name: 'reader', scopes: ['read'] }).expect(201);
      const res = await t.as(key.body.token).get('/api/templates').expect(200);
      expect(res.body.map((template: { name: string }) => template.name).sort()).toEqual(['nestjs-service', 'node-cli', 'typescript-library']);
      const library = res.body.find((template: { name: string }) => template.name === 'typescript-library');
      expect(library.variables).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'packageName', required: true }), expect.objectContaining({ name: 'license', required: false, default: 'MIT' })]));
      expect(library.files).toContain('package.json');
    });

    it.each([
      ['typescript-library', { packageName: '@acme/invoice-utils', description: 'Invoice helpers.', author: 'Ada Lovelace <ada@example.com>' }, '@acme/invoice-utils'],
      ['nestjs-service', { serviceName: 'billing-service', resourceName: 'invoice-items' }, 'billing-service'],
      ['node-cli', { commandName: 'invoice-cli' }, 'invoice-cli'],
    ])('instantiates %s into well-formed sources: package.json parses and TypeScript finds no syntax error', async (template, variables, packageName) => {
      const res = await t.api.post('/api/templates/instantiate').send({ template, name: `From ${template}`, variables }).expect(201);
      expect(res.body).toMatchObject({ name: `From ${template}`, metadata: { instantiatedFrom: { template } } });
      expect(res.body.fileCount).toBeGreaterThan(3);
      // The project as every other project route shows it: the documented fields, nothing of the row beyond.
      expect(res.body).toEqual((await t.api.get(`/api/projects/${res.body.id}`).expect(200)).body);
      const files = await filesOf(res.body.id);
      const manifest = JSON.parse(files.get('package.json')!.content.toString('utf8'));
      expect(manifest.name).toBe(packageName);
      const sources = [...files.keys()].filter((path) => /\.(ts|js)$/.test(path));
      expect(sources.length).toBeGreaterThan(0);
      const dir = join(root, res.body.id);
      expect(syntaxErrors(dir, sources)).toEqual([]);
      for (const [path, file] of files) {
        expect([path, file.content.includes('{{')]).toEqual([path, false]);
        if (path.endsWith('.json')) expect(() => JSON.parse(file.content.toString('utf8'))).not.toThrow();
      }
      if (template === 'nestjs-service') {
        expect(files.has('src/invoice-items/invoice-items.controller.ts')).toBe(true);
        expect(files.get('src/app.module.ts')!.content.toString()).toContain('import { InvoiceItemsModule } from');
      }
      if (template === 'node-cli') expect(files.get('bin/invoice-cli.js')!.executable).toBe(true);
    });

    it('answers 400 naming a missing variable, and creates nothing', async () => {
      const before = await projectCount();
      const res = await t.api.post('/api/templates/instantiate').send({ template: 'typescript-library', name: 'No name' });
      const body = expectError(res, 400, 'TEMPLATE_VARIABLE_MISSING');
      expect(body.message).toContain('packageName');
      expect(body.details).toEqual([expect.objectContaining({ field: 'variables.packageName', rule: 'required' })]);
      expect(await projectCount()).toBe(before);
    });

    it('refuses values that break a declared pattern, unknown variables and unknown templates', async () => {
      const bad = await t.api.post('/api/templates/instantiate').send({ template: 'nestjs-service', name: 'x', variables: { serviceName: 'svc', resourceName: '../etc' } });
      expect(expectError(bad, 400, 'TEMPLATE_VARIABLE_INVALID').details).toEqual([expect.objectContaining({ field: 'variables.resourceName', rule: 'pattern' })]);
      const quote = await t.api.post('/api/templates/instantiate').send({ template: 'typescript-library', name: 'x', variables: { packageName: 'a', description: 'breaks "json"' } });
      expectError(quote, 400, 'TEMPLATE_VARIABLE_INVALID');
      const unknown = await t.api.post('/api/templates/instantiate').send({ template: 'node-cli', name: 'x', variables: { commandName: 'a', typo: 'b' } });
      expect(expectError(unknown, 400, 'TEMPLATE_VARIABLE_INVALID').details).toEqual([expect.objectContaining({ field: 'variables.typo', rule: 'unknown' })]);
      expectErrorDetail(await t.api.post('/api/templates/instantiate').send({ template: 'cobol-mainframe', name: 'x' }), 404, 'TEMPLATE_NOT_FOUND', { field: 'template', rule: 'unknown-template' });
    });

    it('answers 409 for a taken slug and creates nothing', async () => {
      await createProject(t.api, { slug: 'taken-slug' });
      const before = await projectCount();
      const res = await t.api.post('/api/templates/instantiate').send({ template: 'node-cli', name: 'x', slug: 'taken-slug', variables: { commandName: 'a' } });
      expectError(res, 409, 'SLUG_CONFLICT');
      expect(await projectCount()).toBe(before);
    });
  });

  describe('a project as a template', () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00]), Buffer.from('{{title}} stays as is')]);

    it('renders paths and text, copies binary and opted-out files untouched, applies declared defaults', async () => {
      const source = await templateProject(
        [
          textFile('README.md', '# {{title}}\n\nModule {{module}}.\n'),
          textFile('src/{{module}}/index.ts', "export const name = '{{module}}';\n"),
          textFile('bin/{{module}}.sh', '#!/bin/sh\necho {{module}}\n', { executable: true }),
          binaryFile('assets/logo.png', png),
          textFile('views/page.hbs', '{{#each items}}<li>{{this}}</li>{{/each}}\n'),
          textFile('.github/workflows/ci.yml', 'token: ${{ secrets.TOKEN }}\n'),
          textFile('.forgeline-raw', '# Handlebars views are not ours\n*.hbs\n'),
        ],
        { template: { raw: ['.github/'], variables: { title: { description: 'Heading', default: 'Untitled' } } } },
      );
      const res = await instantiate(source.id, { slug: 'rendered', variables: { module: 'billing' } }).expect(201);
      expect(res.body).toMatchObject({ slug: 'rendered', metadata: { instantiatedFrom: { projectId: source.id, slug: source.slug } } });
      const files = await filesOf(res.body.id);
      expect([...files.keys()].sort()).toEqual(['.github/workflows/ci.yml', 'README.md', 'assets/logo.png', 'bin/billing.sh', 'src/billing/index.ts', 'views/page.hbs']);
      expect(files.get('README.md')!.content.toString()).toBe('# Untitled\n\nModule billing.\n');
      expect(files.get('src/billing/index.ts')!.content.toString()).toBe("export const name = 'billing';\n");
      expect(files.get('bin/billing.sh')!.executable).toBe(true);
      expect(files.get('assets/logo.png')!.content.equals(png)).toBe(true);
      expect(files.get('views/page.hbs')!.content.toString()).toBe('{{#each items}}<li>{{this}}</li>{{/each}}\n');
      expect(files.get('.github/workflows/ci.yml')!.content.toString()).toBe('token: ${{ secrets.TOKEN }}\n');
    });

    it.each([
      ["{{constructor.constructor('return process')().exit()}}", 'TEMPLATE_INVALID'],
      ["{{{process.mainModule.require('child_process').execSync('touch /tmp/pwned')}}}", 'TEMPLATE_INVALID'],
      ['{{__proto__.polluted}}', 'TEMPLATE_INVALID'],
      ['{{#constructor}}{{/constructor}}', 'TEMPLATE_INVALID'],
      ['{{> ../../etc/passwd}}', 'TEMPLATE_INVALID'],
      ['{{=<% %>=}}<% require %>', 'TEMPLATE_VARIABLE_MISSING'],
      ['{{constructor}}', 'TEMPLATE_VARIABLE_MISSING'],
    ])('never runs template text: %s answers 400 %s and creates nothing', async (text, code) => {
      const source = await templateProject([textFile('x.txt', text)]);
      const before = await projectCount();
      expectError(await instantiate(source.id, {}), 400, code);
      expect(await projectCount()).toBe(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('renders prototype-like names as plain variables, from the values only', async () => {
      const source = await templateProject([textFile('x.txt', '{{toString}}-{{valueOf}}-{{hasOwnProperty}}')]);
      const res = await instantiate(source.id, { variables: { toString: 'a', valueOf: 'b', hasOwnProperty: 'c' } }).expect(201);
      expect((await filesOf(res.body.id)).get('x.txt')!.content.toString()).toBe('a-b-c');
      expectError(await instantiate(source.id, { variables: { toString: 'a', valueOf: 'b', hasOwnProperty: 'c', __proto__x: 'd' } }), 400, 'TEMPLATE_VARIABLE_INVALID');
      // Nest's ValidationPipe strips "constructor" and "__proto__" keys from every body: such a variable never arrives.
      const ctor = await templateProject([textFile('x.txt', '{{constructor}}')]);
      expectError(await instantiate(ctor.id, { variables: { constructor: 'x' } }), 400, 'TEMPLATE_VARIABLE_MISSING');
    });

    it('keeps variables used in paths to one name: separators, ".." and rendered paths that break the path rules', async () => {
      const source = await templateProject([textFile('src/{{module}}/index.ts', 'x')]);
      const cases: Array<[string, string, string]> = [
        ['../escape', 'TEMPLATE_VARIABLE_INVALID', 'path-separator'],
        ['a/b', 'TEMPLATE_VARIABLE_INVALID', 'path-separator'],
        ['a\\b', 'TEMPLATE_VARIABLE_INVALID', 'path-separator'],
        ['..', 'TEMPLATE_VARIABLE_INVALID', 'dot-segment'],
        ['.git', 'PATH_INVALID', 'git-dir'],
        ['', 'PATH_INVALID', 'empty-segment'],
        ['x'.repeat(300), 'PATH_INVALID', 'segment-too-long'],
      ];
      const before = await projectCount();
      for (const [value, code, rule] of cases) {
        const res = await instantiate(source.id, { variables: { module: value } });
        expect([value.slice(0, 20), expectError(res, 400, code).details?.[0]?.rule]).toEqual([value.slice(0, 20), rule]);
      }
      expect(await projectCount()).toBe(before);
    });

    it('refuses two paths that render to the same file, and a file that renders onto a folder', async () => {
      const same = await templateProject([textFile('{{a}}.txt', '1'), textFile('{{b}}.txt', '2')]);
      expectError(await instantiate(same.id, { variables: { a: 'x', b: 'x' } }), 400, 'PATH_INVALID');
      const clash = await templateProject([textFile('{{a}}', '1'), textFile('{{b}}/inner.txt', '2')]);
      expectError(await instantiate(clash.id, { variables: { a: 'x', b: 'x' } }), 409, 'PATH_CONFLICT');
    });

    it('bounds huge variable values and the size they render to', async () => {
      const source = await templateProject([textFile('big.txt', '{{v}}'.repeat(400))]);
      const huge = await instantiate(source.id, { variables: { v: 'x'.repeat(16 * 1024 + 1) } });
      expect(expectError(huge, 400, 'TEMPLATE_VARIABLE_INVALID').details).toEqual([expect.objectContaining({ field: 'variables.v', rule: 'max-bytes' })]);
      const before = await projectCount();
      const tooBig = await instantiate(source.id, { variables: { v: 'x'.repeat(16 * 1024) } });
      expect(expectError(tooBig, 413, 'FILE_TOO_LARGE').message).toContain('big.txt');
      expect(await projectCount()).toBe(before);
      const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`v${i}`, 'x']));
      expectError(await instantiate(source.id, { variables: many }), 400, 'TEMPLATE_VARIABLE_INVALID');
      expectError(await instantiate(source.id, { variables: { v: 42 } }), 400, 'TEMPLATE_VARIABLE_INVALID');
    });

    it('matches a long path against many-wildcard raw patterns quickly, and refuses more than MAX_TEMPLATE_RAW_PATTERNS', async () => {
      // As regular expressions, these patterns took minutes per path: instantiating would have frozen the service.
      const deep = Array.from({ length: 4 }, () => 'a'.repeat(200)).join('/');
      const source = await templateProject([textFile(deep, '{{x}}'), textFile(`${deep}b`, '{{x}}'), textFile('.forgeline-raw', '**a**a**a**a**b\n')]);
      const res = await instantiate(source.id, { variables: { x: 'value' } }).expect(201);
      const files = await filesOf(res.body.id);
      expect(files.get(deep)!.content.toString()).toBe('value');
      expect(files.get(`${deep}b`)!.content.toString()).toBe('{{x}}');

      const before = await projectCount();
      const many = await templateProject([textFile('a.txt', 'a'), textFile('.forgeline-raw', Array.from({ length: 150 }, (_, i) => `f${i}.txt`).join('\n'))], {
        template: { raw: Array.from({ length: 51 }, (_, i) => `g${i}.txt`) },
      });
      const refused = expectError(await instantiate(many.id, {}), 400, 'TEMPLATE_INVALID');
      expect(refused.details).toEqual([expect.objectContaining({ field: '.forgeline-raw', rule: 'max-patterns' })]);
      expect(refused.message).toContain('201 glob patterns together; MAX_TEMPLATE_RAW_PATTERNS is 200');
      expect(await projectCount()).toBe(before + 1);
      // A pattern longer than any path could be is refused too: matching costs its length times the path's.
      const long = await templateProject([textFile('a.txt', 'a')], { template: { raw: ['*'.repeat(1_025)] } });
      const tooLong = expectError(await instantiate(long.id, {}), 400, 'TEMPLATE_INVALID');
      expect(tooLong.details).toEqual([expect.objectContaining({ field: 'metadata.template.raw', rule: 'pattern-too-long' })]);
      expect(await projectCount()).toBe(before + 2);
    });

    it('refuses bad template settings in the metadata', async () => {
      const source = await templateProject([textFile('a.txt', '{{x}}')], { template: { variables: { x: { pattern: '(a+)+$' } } } });
      expectError(await instantiate(source.id, { variables: { x: 'a' } }), 400, 'TEMPLATE_INVALID');
    });

    it('answers 404 for another workspace\'s project', async () => {
      const other = await t.api.post('/api/workspaces').send({ name: 'Template tenant' }).expect(201);
      const api = t.as(other.body.apiKey.token);
      const foreign = await createProject(api);
      await putFiles(api, foreign.id, [textFile('secret.txt', 'b-only {{x}}')]);
      expectError(await instantiate(foreign.id, { variables: { x: '1' } }), 404, 'PROJECT_NOT_FOUND');
    });

    it('copies a large template in several batches', async () => {
      const files = Array.from({ length: 1200 }, (_, i) => textFile(`pkg/{{name}}/f${i}.txt`, `${i} {{name}}\n`));
      const source = await templateProject(files);
      const res = await instantiate(source.id, { variables: { name: 'core' } }).expect(201);
      expect(res.body.fileCount).toBe(1200);
      const out = await filesOf(res.body.id);
      expect(out.get('pkg/core/f1199.txt')!.content.toString()).toBe('1199 core\n');
      expect(bytesOf(files[0]).toString()).toContain('{{name}}');
    });
  });
});
