import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The scope of the key that started each agent run and workflow run: what the run may do at
 * most (an agent run's key never holds more). Runs from before were started by keys with at least
 * `write` (both start operations need it), so that is what they get.
 */
export class AddRunStartedScopes1764060000001 implements MigrationInterface {
  name = 'AddRunStartedScopes1764060000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "agent_runs" ADD "started_scope" character varying(10) NOT NULL DEFAULT 'write'`);
    await queryRunner.query(`ALTER TABLE "workflow_runs" ADD "started_scope" character varying(10) NOT NULL DEFAULT 'write'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_runs" DROP COLUMN "started_scope"`);
    await queryRunner.query(`ALTER TABLE "agent_runs" DROP COLUMN "started_scope"`);
  }
}
