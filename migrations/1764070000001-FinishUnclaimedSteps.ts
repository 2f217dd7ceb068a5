import { MigrationInterface, QueryRunner } from 'typeorm';
import { FINISH_STEP_FUNCTION } from './1764050000001-CreateWorkflows.js';

/**
 * workflow_finish_step also records a step that ended before its worker claimed it
 * (WORKFLOW_STEP_CLAIM_DELAY_MS): p_executions = 0 claims and finishes it in one write, provided
 * it is still queued for p_attempt and was never claimed; p_elapsed_ms dates its start. The steps
 * it queues come back with their last attempt and whether they were ever claimed, so that the
 * worker that takes one knows whether it may run it before claiming it.
 */
const FINISH_STEP_FUNCTION_V2 = `
CREATE FUNCTION "workflow_finish_step"(
  p_run uuid, p_step uuid, p_executions integer, p_status text, p_output jsonb, p_error text, p_logs jsonb, p_config jsonb,
  p_release text[], p_skip text[], p_leaves text[], p_tolerated text[], p_skip_error text, p_attempt integer, p_elapsed_ms double precision
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
  IF p_executions = 0 THEN
    UPDATE workflow_step_runs
       SET status = p_status, output = p_output, error = p_error, logs = p_logs, config = p_config, executions = 1,
           started_at = clock_timestamp() - make_interval(secs => p_elapsed_ms / 1000), finished_at = clock_timestamp(),
           heartbeat_at = NULL, not_before = NULL
     WHERE id = p_step AND attempt = p_attempt AND executions = 0 AND status = 'queued';
  ELSE
    UPDATE workflow_step_runs
       SET status = p_status, output = p_output, error = p_error, logs = p_logs, config = p_config,
           finished_at = clock_timestamp(), heartbeat_at = NULL
     WHERE id = p_step AND executions = p_executions AND status = 'running';
  END IF;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF cardinality(p_release) > 0 THEN
    WITH released AS (
      UPDATE workflow_step_runs
         SET remaining_needs = remaining_needs - 1,
             status = CASE WHEN remaining_needs = 1 AND status = 'pending' THEN 'queued' ELSE status END
       WHERE run_id = p_run AND step_id = ANY(p_release)
      RETURNING id, step_id, status, attempt, last_attempt, executions, remaining_needs
    )
    SELECT COALESCE(jsonb_agg(jsonb_build_object('id', id, 'stepId', step_id, 'attempt', attempt, 'lastAttempt', last_attempt, 'claimed', executions > 0)), '[]'::jsonb)
      INTO v_ready
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

const V1_SIGNATURE = `"workflow_finish_step"(uuid, uuid, integer, text, jsonb, text, jsonb, jsonb, text[], text[], text[], text[], text)`;
const V2_SIGNATURE = `"workflow_finish_step"(uuid, uuid, integer, text, jsonb, text, jsonb, jsonb, text[], text[], text[], text[], text, integer, double precision)`;

export class FinishUnclaimedSteps1764070000001 implements MigrationInterface {
  name = 'FinishUnclaimedSteps1764070000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION ${V1_SIGNATURE}`);
    await queryRunner.query(FINISH_STEP_FUNCTION_V2);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION ${V2_SIGNATURE}`);
    await queryRunner.query(FINISH_STEP_FUNCTION);
  }
}
