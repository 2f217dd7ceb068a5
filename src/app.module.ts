import { DynamicModule, Module, ModuleMetadata } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AccessModule } from './access/access.module.js';
import { AgentsModule } from './agents/agents.module.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ExporterModule } from './exporter/exporter.module.js';
import { QueueModule } from './queue/queue.module.js';
import { GeneratorModule } from './generator/generator.module.js';
import type { MigrationList } from './database/data-source.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { ProjectsModule } from './projects/projects.module.js';
import { WorkflowsModule } from './workflows/workflows.module.js';

export interface AppOptions {
  config: AppConfig;
  /** The connection URL actually used (DATABASE_URL, or the embedded server's). */
  databaseUrl: string;
  /** Migration classes, when the caller loads them itself (jest); default: the migrations/ folder. */
  migrations?: MigrationList;
  /** Extra modules (tests and benches add step executors this way). */
  imports?: ModuleMetadata['imports'];
}

@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl, migrations, imports = [] }: AppOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        DatabaseModule.forRoot(databaseUrl, config.DB_POOL_SIZE, migrations),
        QueueModule.forRoot(config),
        AccessModule,
        HealthModule,
        ProjectsModule,
        ExporterModule,
        GeneratorModule,
        AgentsModule,
        WorkflowsModule,
        ...imports,
      ],
      providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
    };
  }
}
