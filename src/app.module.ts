import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AccessModule } from './access/access.module.js';
import { AgentsModule } from './agents/agents.module.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import type { MigrationList } from './database/data-source.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { ProjectsModule } from './projects/projects.module.js';

export interface AppOptions {
  config: AppConfig;
  /** The connection URL actually used (DATABASE_URL, or the embedded server's). */
  databaseUrl: string;
  /** Migration classes, when the caller loads them itself (jest); default: the migrations/ folder. */
  migrations?: MigrationList;
}

@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl, migrations }: AppOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        DatabaseModule.forRoot(databaseUrl, config.DB_POOL_SIZE, migrations),
        AccessModule,
        HealthModule,
        ProjectsModule,
        AgentsModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
    };
  }
}
