import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { dataSourceOptions, MigrationList } from './data-source.js';

/** TypeORM over `pg`; pending migrations run at start-up, entities come from each module's forFeature. */
@Module({})
export class DatabaseModule {
  static forRoot(url: string, poolSize: number, migrations?: MigrationList): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRoot({
          ...dataSourceOptions(url, poolSize, migrations),
          autoLoadEntities: true,
          migrationsRun: true,
          retryAttempts: 5,
          retryDelay: 1_000,
        }),
      ],
    };
  }
}
