import { DynamicModule, Global, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bull';
import { AppConfig } from '../config/app-config.js';
import { bullRootOptions, BullJobQueue } from './bull-job-queue.js';
import { InProcessJobQueue } from './in-process-job-queue.js';
import { JobQueue } from './job-queue.js';

/**
 * The background-jobs seam, global: inject `JobQueue` to register handlers and enqueue jobs
 * (see job-queue.ts). With REDIS_URL, jobs go through Bull queues shared by every process (the
 * app and `npm run start:worker`); without it, the same handlers run in-process.
 */
@Global()
@Module({})
export class QueueModule {
  static forRoot(config: AppConfig): DynamicModule {
    if (config.REDIS_URL) {
      return {
        module: QueueModule,
        imports: [BullModule.forRoot(bullRootOptions(config))],
        providers: [{ provide: JobQueue, useClass: BullJobQueue }],
        exports: [JobQueue],
      };
    }
    return {
      module: QueueModule,
      providers: [{ provide: JobQueue, useClass: InProcessJobQueue }],
      exports: [JobQueue],
    };
  }
}
