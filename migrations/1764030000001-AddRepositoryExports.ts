import { MigrationInterface, QueryRunner } from 'typeorm';

export class AddRepositoryExports1764030000001 implements MigrationInterface {
  name = 'AddRepositoryExports1764030000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "git_credentials" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "name" character varying(100) NOT NULL,
        "username" character varying(200) NOT NULL,
        "host" character varying(255),
        "ciphertext" text NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_git_credentials" PRIMARY KEY ("id"),
        CONSTRAINT "uq_git_credentials_workspace_name" UNIQUE ("workspace_id", "name"),
        CONSTRAINT "fk_git_credentials_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`
      CREATE TABLE "repository_exports" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "project_id" uuid NOT NULL,
        "status" character varying(20) NOT NULL DEFAULT 'queued',
        "branch" character varying(255) NOT NULL DEFAULT 'main',
        "tag" character varying(255),
        "message" text NOT NULL,
        "author_name" character varying(200) NOT NULL,
        "author_email" character varying(200) NOT NULL,
        "allow_empty" boolean NOT NULL DEFAULT false,
        "trailers" jsonb NOT NULL DEFAULT '[]',
        "commit_sha" character(40),
        "parent_sha" character(40),
        "unchanged" boolean,
        "file_count" integer,
        "remote_url" text,
        "remote_branch" character varying(255),
        "remote_force" boolean NOT NULL DEFAULT false,
        "credential_id" uuid,
        "inline_credential" text,
        "push_result" jsonb,
        "error" text,
        "attempts" integer NOT NULL DEFAULT 0,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "finished_at" TIMESTAMP WITH TIME ZONE,
        "duration_ms" integer,
        CONSTRAINT "pk_repository_exports" PRIMARY KEY ("id"),
        CONSTRAINT "ck_repository_exports_status" CHECK ("status" IN ('queued', 'running', 'succeeded', 'failed')),
        CONSTRAINT "fk_repository_exports_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE,
        CONSTRAINT "fk_repository_exports_project" FOREIGN KEY ("project_id") REFERENCES "generated_projects"("id") ON DELETE CASCADE,
        CONSTRAINT "fk_repository_exports_credential" FOREIGN KEY ("credential_id") REFERENCES "git_credentials"("id") ON DELETE SET NULL
      )`);
    await queryRunner.query(`CREATE INDEX "ix_repository_exports_project_created" ON "repository_exports" ("project_id", "created_at")`);
    // The start-up sweep looks for unfinished exports: a small partial index.
    await queryRunner.query(`CREATE INDEX "ix_repository_exports_unfinished" ON "repository_exports" ("created_at") WHERE "status" IN ('queued', 'running')`);
    await queryRunner.query(`
      CREATE TABLE "repository_snapshots" (
        "project_id" uuid NOT NULL,
        "branch" character varying(255) NOT NULL,
        "commit_sha" character(40) NOT NULL,
        "tree_sha" character(40) NOT NULL,
        "entries" text NOT NULL,
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_repository_snapshots" PRIMARY KEY ("project_id", "branch"),
        CONSTRAINT "fk_repository_snapshots_project" FOREIGN KEY ("project_id") REFERENCES "generated_projects"("id") ON DELETE CASCADE
      )`);
    // About 1 MB per 5,000 files, rewritten by every export: not worth compressing (mostly hex ids).
    await queryRunner.query(`ALTER TABLE "repository_snapshots" ALTER COLUMN "entries" SET STORAGE EXTERNAL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "repository_snapshots"`);
    await queryRunner.query(`DROP TABLE "repository_exports"`);
    await queryRunner.query(`DROP TABLE "git_credentials"`);
  }
}
