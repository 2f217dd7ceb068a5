import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateProjects1764011000000 implements MigrationInterface {
  name = 'CreateProjects1764011000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "generated_projects" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "name" character varying(200) NOT NULL,
        "slug" character varying(100) NOT NULL,
        "description" text NOT NULL DEFAULT '',
        "status" character varying(20) NOT NULL DEFAULT 'active',
        "metadata" jsonb NOT NULL DEFAULT '{}',
        "file_count" integer NOT NULL DEFAULT 0,
        "total_bytes" bigint NOT NULL DEFAULT 0,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_generated_projects" PRIMARY KEY ("id"),
        CONSTRAINT "uq_generated_projects_slug" UNIQUE ("slug")
      )`);
    await queryRunner.query(`
      CREATE TABLE "project_files" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "project_id" uuid NOT NULL,
        "path" text COLLATE "C" NOT NULL,
        "content" bytea NOT NULL,
        "size" integer NOT NULL,
        "sha256" character(64) NOT NULL,
        "mode" character varying(10) NOT NULL DEFAULT 'regular',
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_project_files" PRIMARY KEY ("id"),
        CONSTRAINT "uq_project_files_project_path" UNIQUE ("project_id", "path"),
        CONSTRAINT "fk_project_files_project" FOREIGN KEY ("project_id") REFERENCES "generated_projects"("id") ON DELETE CASCADE
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "project_files"`);
    await queryRunner.query(`DROP TABLE "generated_projects"`);
  }
}
