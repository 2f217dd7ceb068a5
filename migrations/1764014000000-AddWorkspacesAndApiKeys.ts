import { MigrationInterface, QueryRunner } from 'typeorm';

export class AddWorkspacesAndApiKeys1764014000000 implements MigrationInterface {
  name = 'AddWorkspacesAndApiKeys1764014000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "workspaces" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "name" character varying(200) NOT NULL,
        "slug" character varying(100) NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_workspaces" PRIMARY KEY ("id"),
        CONSTRAINT "uq_workspaces_slug" UNIQUE ("slug")
      )`);
    await queryRunner.query(`
      CREATE TABLE "api_keys" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "name" character varying(200) NOT NULL,
        "prefix" character varying(16) NOT NULL,
        "token_hash" character(64) NOT NULL,
        "scopes" text array NOT NULL,
        "expires_at" TIMESTAMP WITH TIME ZONE,
        "revoked_at" TIMESTAMP WITH TIME ZONE,
        "last_used_at" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_api_keys" PRIMARY KEY ("id"),
        CONSTRAINT "uq_api_keys_token_hash" UNIQUE ("token_hash"),
        CONSTRAINT "fk_api_keys_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX "ix_api_keys_workspace" ON "api_keys" ("workspace_id")`);
    await queryRunner.query(`
      CREATE TABLE "workspace_secrets" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "name" character varying(100) NOT NULL,
        "ciphertext" text NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_workspace_secrets" PRIMARY KEY ("id"),
        CONSTRAINT "uq_workspace_secrets_workspace_name" UNIQUE ("workspace_id", "name"),
        CONSTRAINT "fk_workspace_secrets_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE
      )`);
    // Projects created before workspaces existed move into the default workspace.
    await queryRunner.query(`INSERT INTO "workspaces" ("name", "slug") VALUES ('Default workspace', 'default')`);
    await queryRunner.query(`ALTER TABLE "generated_projects" ADD "workspace_id" uuid`);
    await queryRunner.query(`UPDATE "generated_projects" SET "workspace_id" = (SELECT "id" FROM "workspaces" WHERE "slug" = 'default')`);
    await queryRunner.query(`ALTER TABLE "generated_projects" ALTER COLUMN "workspace_id" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "generated_projects" DROP CONSTRAINT "uq_generated_projects_slug"`);
    await queryRunner.query(`ALTER TABLE "generated_projects" ADD CONSTRAINT "uq_generated_projects_workspace_slug" UNIQUE ("workspace_id", "slug")`);
    await queryRunner.query(`ALTER TABLE "generated_projects" ADD CONSTRAINT "fk_generated_projects_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "generated_projects" DROP CONSTRAINT "fk_generated_projects_workspace"`);
    await queryRunner.query(`ALTER TABLE "generated_projects" DROP CONSTRAINT "uq_generated_projects_workspace_slug"`);
    await queryRunner.query(`ALTER TABLE "generated_projects" DROP COLUMN "workspace_id"`);
    await queryRunner.query(`ALTER TABLE "generated_projects" ADD CONSTRAINT "uq_generated_projects_slug" UNIQUE ("slug")`);
    await queryRunner.query(`DROP TABLE "workspace_secrets"`);
    await queryRunner.query(`DROP TABLE "api_keys"`);
    await queryRunner.query(`DROP TABLE "workspaces"`);
  }
}
