import { MigrationInterface, QueryRunner } from 'typeorm';

/** Keys restricted to named operations: the short-lived key of an agent run. */
export class AddApiKeyAllowedOperations1764040000001 implements MigrationInterface {
  name = 'AddApiKeyAllowedOperations1764040000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" ADD "allowed_operations" text array`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" DROP COLUMN "allowed_operations"`);
  }
}
