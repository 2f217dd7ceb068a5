import { MigrationInterface, QueryRunner } from 'typeorm';

/** Agents, their runs and every API call a run made. */
export class CreateAgents1764040000002 implements MigrationInterface {
  name = 'CreateAgents1764040000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "agents" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "name" character varying(200) NOT NULL,
        "model" character varying(100) NOT NULL,
        "system_prompt" text NOT NULL DEFAULT '',
        "allowed_operations" text array NOT NULL DEFAULT '{}',
        "output_schema" jsonb,
        "max_iterations" integer NOT NULL,
        "max_tokens_per_run" integer NOT NULL,
        "temperature" real,
        "run_timeout_ms" integer NOT NULL,
        "tool_timeout_ms" integer NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_agents" PRIMARY KEY ("id"),
        CONSTRAINT "fk_agents_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX "ix_agents_workspace_created" ON "agents" ("workspace_id", "created_at")`);
    await queryRunner.query(`
      CREATE TABLE "agent_runs" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "agent_id" uuid NOT NULL,
        "input" text NOT NULL,
        "status" character varying(20) NOT NULL DEFAULT 'queued',
        "result" jsonb,
        "final_text" text,
        "stop_reason" character varying(40),
        "iterations" integer NOT NULL DEFAULT 0,
        "input_tokens" integer NOT NULL DEFAULT 0,
        "output_tokens" integer NOT NULL DEFAULT 0,
        "cache_read_tokens" integer NOT NULL DEFAULT 0,
        "cache_write_tokens" integer NOT NULL DEFAULT 0,
        "model_requests" jsonb NOT NULL DEFAULT '[]',
        "error" text,
        "api_key_id" uuid,
        "cancel_requested_at" TIMESTAMP WITH TIME ZONE,
        "heartbeat_at" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "finished_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "pk_agent_runs" PRIMARY KEY ("id"),
        CONSTRAINT "fk_agent_runs_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE,
        CONSTRAINT "fk_agent_runs_agent" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX "ix_agent_runs_agent_created" ON "agent_runs" ("agent_id", "created_at")`);
    await queryRunner.query(`CREATE INDEX "ix_agent_runs_status" ON "agent_runs" ("status")`);
    await queryRunner.query(`
      CREATE TABLE "agent_api_calls" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "run_id" uuid NOT NULL,
        "sequence" integer NOT NULL,
        "tool_use_id" character varying(200) NOT NULL,
        "operation_id" character varying(200) NOT NULL,
        "method" character varying(10),
        "path" text,
        "request" jsonb,
        "response_status" integer,
        "response_body" text,
        "response_truncated" boolean NOT NULL DEFAULT false,
        "duration_ms" integer NOT NULL DEFAULT 0,
        "error" text,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_agent_api_calls" PRIMARY KEY ("id"),
        CONSTRAINT "uq_agent_api_calls_run_sequence" UNIQUE ("run_id", "sequence"),
        CONSTRAINT "fk_agent_api_calls_run" FOREIGN KEY ("run_id") REFERENCES "agent_runs"("id") ON DELETE CASCADE
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "agent_api_calls"`);
    await queryRunner.query(`DROP TABLE "agent_runs"`);
    await queryRunner.query(`DROP TABLE "agents"`);
  }
}
