import type { BuiltinTemplate } from '../template-definition.js';
import { descriptionVariable, GITIGNORE, KEBAB_NAME } from './common-variables.js';

export const nestjsServiceTemplate: BuiltinTemplate = {
  name: 'nestjs-service',
  description: 'A NestJS HTTP service with one resource (module, controller, service) and a unit test',
  variables: [
    {
      name: 'serviceName',
      description: 'Package and service name, in kebab-case',
      pattern: KEBAB_NAME,
      patternHint: 'must be kebab-case: lowercase letters and digits separated by single hyphens',
      example: 'billing-service',
    },
    descriptionVariable('A NestJS service.'),
    {
      name: 'resourceName',
      description: 'The resource the service exposes, in kebab-case: names its folder, files and route',
      default: 'items',
      pattern: KEBAB_NAME,
      patternHint: 'must be kebab-case: lowercase letters and digits separated by single hyphens',
      example: 'invoices',
    },
    {
      name: 'resourceClass',
      description: 'Class-name prefix of the resource (default: resourceName in PascalCase)',
      derive: { from: 'resourceName', case: 'pascal' },
      pattern: '[A-Z][A-Za-z0-9]{0,99}',
      patternHint: 'must be PascalCase',
      example: 'Invoices',
    },
    { name: 'port', description: 'Default HTTP port', default: '3000', pattern: '[1-9][0-9]{0,4}', patternHint: 'must be a port number' },
  ],
  files: [
    {
      path: 'package.json',
      content: `{
  "name": "{{serviceName}}",
  "version": "0.1.0",
  "description": "{{description}}",
  "private": true,
  "scripts": {
    "build": "tsc -p tsconfig.build.json",
    "start": "node dist/main.js",
    "test": "tsc -p tsconfig.json && node --test dist/"
  },
  "dependencies": {
    "@nestjs/common": "^11.1.0",
    "@nestjs/core": "^11.1.0",
    "@nestjs/platform-express": "^11.1.0",
    "reflect-metadata": "^0.2.2",
    "rxjs": "^7.8.2"
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
    "module": "CommonJS",
    "moduleResolution": "Node",
    "strict": true,
    "experimentalDecorators": true,
    "emitDecoratorMetadata": true,
    "esModuleInterop": true,
    "skipLibCheck": true,
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
      path: 'tsconfig.build.json',
      content: `{
  "extends": "./tsconfig.json",
  "exclude": ["**/*.test.ts"]
}
`,
    },
    {
      path: 'src/main.ts',
      content: `import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.setGlobalPrefix('api');
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? '{{port}}');
  await app.listen(port);
  console.log(\`{{serviceName}} listening on port \${port}\`);
}

void bootstrap();
`,
    },
    {
      path: 'src/app.module.ts',
      content: `import { Module } from '@nestjs/common';
import { {{resourceClass}}Module } from './{{resourceName}}/{{resourceName}}.module';

/** {{description}} */
@Module({ imports: [{{resourceClass}}Module] })
export class AppModule {}
`,
    },
    {
      path: 'src/{{resourceName}}/{{resourceName}}.module.ts',
      content: `import { Module } from '@nestjs/common';
import { {{resourceClass}}Controller } from './{{resourceName}}.controller';
import { {{resourceClass}}Service } from './{{resourceName}}.service';

@Module({
  controllers: [{{resourceClass}}Controller],
  providers: [{{resourceClass}}Service],
})
export class {{resourceClass}}Module {}
`,
    },
    {
      path: 'src/{{resourceName}}/{{resourceName}}.service.ts',
      content: `import { Injectable, NotFoundException } from '@nestjs/common';

export interface {{resourceClass}}Item {
  id: number;
  name: string;
}

/** Keeps {{resourceName}} in memory; replace with a repository. */
@Injectable()
export class {{resourceClass}}Service {
  private readonly items = new Map<number, {{resourceClass}}Item>();
  private nextId = 1;

  list(): {{resourceClass}}Item[] {
    return [...this.items.values()];
  }

  get(id: number): {{resourceClass}}Item {
    const item = this.items.get(id);
    if (!item) throw new NotFoundException(\`{{resourceName}} \${id} does not exist\`);
    return item;
  }

  create(name: string): {{resourceClass}}Item {
    const item = { id: this.nextId++, name };
    this.items.set(item.id, item);
    return item;
  }
}
`,
    },
    {
      path: 'src/{{resourceName}}/{{resourceName}}.controller.ts',
      content: `import { Body, Controller, Get, Param, ParseIntPipe, Post } from '@nestjs/common';
import { {{resourceClass}}Item, {{resourceClass}}Service } from './{{resourceName}}.service';

export interface Create{{resourceClass}}Body {
  name: string;
}

@Controller('{{resourceName}}')
export class {{resourceClass}}Controller {
  constructor(private readonly service: {{resourceClass}}Service) {}

  @Get()
  list(): {{resourceClass}}Item[] {
    return this.service.list();
  }

  @Get(':id')
  get(@Param('id', ParseIntPipe) id: number): {{resourceClass}}Item {
    return this.service.get(id);
  }

  @Post()
  create(@Body() body: Create{{resourceClass}}Body): {{resourceClass}}Item {
    return this.service.create(body.name);
  }
}
`,
    },
    {
      path: 'src/{{resourceName}}/{{resourceName}}.service.test.ts',
      content: `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { {{resourceClass}}Service } from './{{resourceName}}.service';

test('creates and finds {{resourceName}}', () => {
  const service = new {{resourceClass}}Service();
  const created = service.create('first');
  assert.deepEqual(service.get(created.id), created);
  assert.equal(service.list().length, 1);
});

test('answers 404 for an unknown id', () => {
  assert.throws(() => new {{resourceClass}}Service().get(42), /does not exist/);
});
`,
    },
    {
      path: 'README.md',
      content: `# {{serviceName}}

{{description}}

| Method | Path | |
| --- | --- | --- |
| GET | /api/{{resourceName}} | list |
| GET | /api/{{resourceName}}/:id | get one |
| POST | /api/{{resourceName}} | create (\`{"name": "..."}\`) |

\`\`\`sh
npm install
npm run build
PORT={{port}} npm start
\`\`\`
`,
    },
    { path: '.gitignore', content: GITIGNORE },
  ],
};
