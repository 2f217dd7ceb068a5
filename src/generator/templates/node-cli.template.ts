import type { BuiltinTemplate } from '../template-definition.js';
import { descriptionVariable, GITIGNORE, KEBAB_NAME } from './common-variables.js';

export const nodeCliTemplate: BuiltinTemplate = {
  name: 'node-cli',
  description: 'A Node.js command-line tool in TypeScript, with an executable bin script',
  variables: [
    {
      name: 'commandName',
      description: 'The command users type, in kebab-case (also the package name)',
      pattern: KEBAB_NAME,
      patternHint: 'must be kebab-case: lowercase letters and digits separated by single hyphens',
      example: 'invoice-cli',
    },
    descriptionVariable('A command-line tool.'),
  ],
  files: [
    {
      path: 'package.json',
      content: `{
  "name": "{{commandName}}",
  "version": "0.1.0",
  "description": "{{description}}",
  "type": "module",
  "bin": {
    "{{commandName}}": "bin/{{commandName}}.js"
  },
  "files": ["bin", "dist"],
  "scripts": {
    "build": "tsc -p tsconfig.json",
    "start": "node bin/{{commandName}}.js"
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
    "outDir": "dist",
    "rootDir": "src",
    "types": ["node"]
  },
  "include": ["src"]
}
`,
    },
    {
      path: 'bin/{{commandName}}.js',
      executable: true,
      content: `#!/usr/bin/env node
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
`,
    },
    {
      path: 'src/cli.ts',
      content: `import { parseArgs } from 'node:util';

const USAGE = \`Usage: {{commandName}} [--help] [--version] <name>

{{description}}\`;

/** Runs the command; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
    });
  } catch (error) {
    console.error((error as Error).message);
    console.error(USAGE);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log('0.1.0');
    return 0;
  }
  const [name = 'world'] = positionals;
  console.log(\`Hello, \${name}!\`);
  return 0;
}
`,
    },
    {
      path: 'README.md',
      content: `# {{commandName}}

{{description}}

\`\`\`sh
npm install
npm run build
./bin/{{commandName}}.js --help
\`\`\`
`,
    },
    { path: '.gitignore', content: GITIGNORE },
  ],
};
