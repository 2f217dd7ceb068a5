import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Both functions plan their statements once per connection (force_generic_plan): with custom
 * plans, PostgreSQL would plan them again on every call, which cost more than running them.
 *
 * Claims a step for a worker: a queued one, or a running one whose worker stopped beating
 * (heartbeat older than p_stale_ms). The run becomes running with its first claim (unless a
 * finishing step holds the run's row: that call does it). Returns the step, with the status and
 * output of the upstream steps it reads (p_reads) and, with p_with_run, the run's input and
 * definition (a worker that has not cached them yet); null when there is nothing to do.
 */
const CLAIM_STEP_FUNCTION = `
CREATE FUNCTION "workflow_claim_step"(p_step uuid, p_attempt integer, p_stale_ms double precision, p_reads text[], p_with_run boolean)
RETURNS jsonb LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v record;
  v_started boolean := false;
  v_reads jsonb := '{}'::jsonb;
  v_run jsonb;
BEGIN
  UPDATE workflow_step_runs
     SET status = 'running', executions = executions + 1, heartbeat_at = now(), started_at = clock_timestamp(),
         finished_at = NULL, not_before = NULL
   WHERE id = p_step AND attempt = p_attempt
     AND (status = 'queued' OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => p_stale_ms / 1000)))
  RETURNING id, run_id, step_id, type, attempt, last_attempt, executions, checkpoint INTO v;
  IF NOT FOUND THEN RETURN NULL; END IF;
  UPDATE workflow_runs SET status = 'running', started_at = COALESCE(started_at, now())
   WHERE id = (SELECT r.id FROM workflow_runs r WHERE r.id = v.run_id AND r.status = 'queued' FOR UPDATE SKIP LOCKED);
  v_started := FOUND;
  IF cardinality(p_reads) > 0 THEN
    SELECT COALESCE(jsonb_object_agg(step_id, jsonb_build_object('status', status, 'output', output)), '{}'::jsonb) INTO v_reads
      FROM workflow_step_runs WHERE run_id = v.run_id AND step_id = ANY(p_reads);
  END IF;
  IF p_with_run THEN
    SELECT jsonb_build_object('workspaceId', workspace_id, 'input', input, 'definition', definition) INTO v_run FROM workflow_runs WHERE id = v.run_id;
  END IF;
  RETURN jsonb_build_object(
    'run', v_run, 'id', v.id, 'runId', v.run_id, 'stepId', v.step_id, 'type', v.type, 'attempt', v.attempt, 'lastAttempt', v.last_attempt,
    'executions', v.executions, 'checkpoint', v.checkpoint, 'runStarted', v_started, 'reads', v_reads);
END
$$`;

/**
 * Records how a step execution ended and moves its run forward, in one call (one round trip, one
 * commit): the run's row is locked first, so steps finishing at once see each other, and each
 * statement below reads what committed before it.
 *  - p_release: the steps that need this one, when it counts as met (succeeded, skipped by its
 *    condition, or failed with continueOnError): each has one need fewer; at none it is queued.
 *  - p_skip: when it failed, every step downstream of it: they can never run.
 *  - When no step of the run is left, the run ends: failed when a step not in p_tolerated failed.
 * Returns null when the step is no longer this execution's (cancelled, or taken over).
 */
export const FINISH_STEP_FUNCTION = `
CREATE FUNCTION "workflow_finish_step"(
  p_run uuid, p_step uuid, p_executions integer, p_status text, p_output jsonb, p_error text, p_logs jsonb, p_config jsonb,
  p_release text[], p_skip text[], p_leaves text[], p_tolerated text[], p_skip_error text
) RETURNS jsonb LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_run_status text;
  v_remaining integer;
  v_ready jsonb := '[]'::jsonb;
  v_skipped jsonb := '[]'::jsonb;
  v_skipped_count integer := 0;
  v_failed text;
  v_output jsonb;
  v_final text;
BEGIN
  SELECT status INTO v_run_status FROM workflow_runs WHERE id = p_run FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  UPDATE workflow_step_runs
     SET status = p_status, output = p_output, error = p_error, logs = p_logs, config = p_config,
         finished_at = clock_timestamp(), heartbeat_at = NULL
   WHERE id = p_step AND executions = p_executions AND status = 'running';
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF cardinality(p_release) > 0 THEN
    WITH released AS (
      UPDATE workflow_step_runs
         SET remaining_needs = remaining_needs - 1,
             status = CASE WHEN remaining_needs = 1 AND status = 'pending' THEN 'queued' ELSE status END
       WHERE run_id = p_run AND step_id = ANY(p_release)
      RETURNING id, step_id, status, attempt, remaining_needs
    )
    SELECT COALESCE(jsonb_agg(jsonb_build_object('id', id, 'stepId', step_id, 'attempt', attempt)), '[]'::jsonb) INTO v_ready
      FROM released WHERE status = 'queued' AND remaining_needs = 0;
  END IF;
  IF cardinality(p_skip) > 0 THEN
    WITH skipped AS (
      UPDATE workflow_step_runs SET status = 'skipped', error = p_skip_error, finished_at = clock_timestamp()
       WHERE run_id = p_run AND step_id = ANY(p_skip) AND status = 'pending'
      RETURNING step_id, attempt
    )
    SELECT count(*), COALESCE(jsonb_agg(jsonb_build_object('stepId', step_id, 'attempt', attempt)), '[]'::jsonb) INTO v_skipped_count, v_skipped FROM skipped;
  END IF;
  UPDATE workflow_runs
     SET remaining_steps = remaining_steps - 1 - v_skipped_count,
         status = CASE WHEN status = 'queued' THEN 'running' ELSE status END,
         started_at = COALESCE(started_at, now())
   WHERE id = p_run
  RETURNING remaining_steps INTO v_remaining;
  IF v_remaining <= 0 THEN
    SELECT string_agg(format('"%s"', step_id), ', ' ORDER BY step_id) INTO v_failed
      FROM workflow_step_runs
     WHERE run_id = p_run AND ((status = 'failed' AND NOT (step_id = ANY(p_tolerated))) OR status = 'cancelled');
    SELECT COALESCE(jsonb_object_agg(step_id, output), '{}'::jsonb) INTO v_output
      FROM workflow_step_runs
     WHERE run_id = p_run AND step_id = ANY(p_leaves) AND status = 'succeeded' AND output IS NOT NULL AND output <> 'null'::jsonb;
    v_final := CASE WHEN v_failed IS NULL THEN 'succeeded' ELSE 'failed' END;
    UPDATE workflow_runs
       SET status = v_final, output = v_output, finished_at = clock_timestamp(),
           error = CASE WHEN v_failed IS NULL THEN NULL ELSE 'Step(s) failed: ' || v_failed END
     WHERE id = p_run;
  END IF;
  RETURN jsonb_build_object(
    'ready', v_ready,
    'skipped', v_skipped,
    'runStarted', v_run_status = 'queued' AND v_remaining > 0,
    'run', CASE WHEN v_remaining <= 0 THEN jsonb_build_object(
      'status', v_final, 'output', v_output,
      'error', CASE WHEN v_failed IS NULL THEN NULL ELSE 'Step(s) failed: ' || v_failed END) END
  );
END
$$`;

/**
 * Workflows, their runs (each with its definition snapshot) and the runs' steps. A step's row is
 * updated a few times per execution and its run's row once per step: no index covers the columns
 * that change (a step's status is found through its run), and pages keep room (fillfactor), so
 * those updates stay HOT (no index writes).
 */
export class CreateWorkflows1764050000001 implements MigrationInterface {
  name = 'CreateWorkflows1764050000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "workflows" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "name" character varying(200) NOT NULL,
        "description" text NOT NULL DEFAULT '',
        "version" integer NOT NULL DEFAULT 1,
        "steps" jsonb NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "pk_workflows" PRIMARY KEY ("id"),
        CONSTRAINT "fk_workflows_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX "ix_workflows_workspace_created" ON "workflows" ("workspace_id", "created_at")`);
    await queryRunner.query(`
      CREATE TABLE "workflow_runs" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "workspace_id" uuid NOT NULL,
        "workflow_id" uuid NOT NULL,
        "workflow_version" integer NOT NULL,
        "definition" jsonb NOT NULL,
        "input" jsonb NOT NULL DEFAULT '{}',
        "status" character varying(20) NOT NULL DEFAULT 'queued',
        "output" jsonb,
        "error" text,
        "remaining_steps" integer NOT NULL DEFAULT 0,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "finished_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "pk_workflow_runs" PRIMARY KEY ("id"),
        CONSTRAINT "fk_workflow_runs_workspace" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE,
        CONSTRAINT "fk_workflow_runs_workflow" FOREIGN KEY ("workflow_id") REFERENCES "workflows"("id") ON DELETE CASCADE
      ) WITH (fillfactor = 50)`);
    await queryRunner.query(`CREATE INDEX "ix_workflow_runs_workflow_created" ON "workflow_runs" ("workflow_id", "created_at")`);
    await queryRunner.query(`CREATE INDEX "ix_workflow_runs_active" ON "workflow_runs" ("status") WHERE "status" IN ('queued', 'running')`);
    await queryRunner.query(`
      CREATE TABLE "workflow_step_runs" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "run_id" uuid NOT NULL,
        "step_id" character varying(64) NOT NULL,
        "type" character varying(64) NOT NULL,
        "status" character varying(20) NOT NULL DEFAULT 'pending',
        "attempt" integer NOT NULL DEFAULT 1,
        "last_attempt" integer NOT NULL DEFAULT 1,
        "executions" integer NOT NULL DEFAULT 0,
        "remaining_needs" integer NOT NULL DEFAULT 0,
        "config" jsonb,
        "output" jsonb,
        "error" text,
        "logs" jsonb NOT NULL DEFAULT '[]',
        "checkpoint" jsonb,
        "not_before" TIMESTAMP WITH TIME ZONE,
        "heartbeat_at" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "finished_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "pk_workflow_step_runs" PRIMARY KEY ("id"),
        CONSTRAINT "uq_workflow_step_runs_run_step" UNIQUE ("run_id", "step_id"),
        CONSTRAINT "fk_workflow_step_runs_run" FOREIGN KEY ("run_id") REFERENCES "workflow_runs"("id") ON DELETE CASCADE
      ) WITH (fillfactor = 70)`);
    await queryRunner.query(CLAIM_STEP_FUNCTION);
    await queryRunner.query(FINISH_STEP_FUNCTION);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION "workflow_finish_step"`);
    await queryRunner.query(`DROP FUNCTION "workflow_claim_step"`);
    await queryRunner.query(`DROP TABLE "workflow_step_runs"`);
    await queryRunner.query(`DROP TABLE "workflow_runs"`);
    await queryRunner.query(`DROP TABLE "workflows"`);
  }
}
