import type { BuiltinTemplate } from '../template-definition.js';
import { descriptionVariable, GITIGNORE, ONE_LINE_TEXT } from './common-variables.js';

export const typescriptLibraryTemplate: BuiltinTemplate = {
  name: 'typescript-library',
  description: 'A TypeScript library published as an ES module, with type declarations and node:test tests',
  variables: [
    {
      name: 'packageName',
      description: 'npm package name, optionally scoped',
      pattern: '(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]{0,200}',
      patternHint: 'must be a lowercase npm package name, optionally scoped ("@scope/name")',
      example: 'invoice-utils',
    },
    descriptionVariable('A TypeScript library.'),
    { name: 'author', description: 'package.json author', default: '', pattern: ONE_LINE_TEXT, patternHint: 'must be one line without double quotes or backslashes' },
    { name: 'license', description: 'SPDX license identifier', default: 'MIT', pattern: '[A-Za-z0-9.+-]{1,64}', patternHint: 'must be an SPDX identifier such as MIT' },
  ],
  files: [
    {
      path: 'package.json',
      content: `{
  "name": "{{packageName}}",
  "version": "0.1.0",
  "description": "{{description}}",
  "author": "{{author}}",
  "license": "{{license}}",
  "type": "module",
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "exports": {
    ".": {
      "types": "./dist/index.d.ts",
      "import": "./dist/index.js"
    }
  },
  "files": ["dist"],
  "scripts": {
    "build": "tsc -p tsconfig.json",
    "test": "npm run build && node --test dist/"
  },
  "devDependencies": {
    "@types/node": "^20.19.0",
    "typescript": "^5.9.3"
  }
}
`,
    },
    {
      path: 'tsconfig.json',
      content: `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "declaration": true,
    "sourceMap": true,
    "outDir": "dist",
    "rootDir": "src",
    "types": ["node"]
  },
  "include": ["src"]
}
`,
    },
    {
      path: 'src/index.ts',
      content: `/**
 * {{packageName}}: {{description}}
 */

export interface Greeting {
  name: string;
  text: string;
}

/** Greets someone by name. Replace with the library's API. */
export function greet(name: string): Greeting {
  const trimmed = name.trim();
  if (trimmed === '') throw new RangeError('name must not be empty');
  return { name: trimmed, text: \`Hello, \${trimmed}!\` };
}

/** Adds numbers; the sum of nothing is 0. */
export function sum(...values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
`,
    },
    {
      path: 'src/index.test.ts',
      content: `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greet, sum } from './index.js';

test('greets by the trimmed name', () => {
  assert.deepEqual(greet('  Ada '), { name: 'Ada', text: 'Hello, Ada!' });
});

test('refuses an empty name', () => {
  assert.throws(() => greet(' '), RangeError);
});

test('adds numbers', () => {
  assert.equal(sum(), 0);
  assert.equal(sum(1, 2, 3), 6);
});
`,
    },
    {
      path: 'README.md',
      content: `# {{packageName}}

{{description}}

## Use

\`\`\`ts
import { greet } from '{{packageName}}';

console.log(greet('Ada').text);
\`\`\`

## Develop

\`\`\`sh
npm install
npm test
\`\`\`
`,
    },
    { path: '.gitignore', content: GITIGNORE },
  ],
};
