import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

const MiB = 1024 * 1024;

/** Parses "true"/"false"/"1"/"0"; anything else is left for the validator to reject. */
function EnvBoolean(): PropertyDecorator {
  // Reads the raw string: implicit conversion would already have turned "false" into true.
  return Transform(({ obj, key }) => {
    const value: unknown = obj[key];
    if (typeof value !== 'string') return value;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    return value;
  });
}

/**
 * Every setting of the service, one environment variable each. Defaults here are the ones
 * documented in .env.example; a bad value stops the process at boot, naming the variable.
 */
export class AppConfig {
  /** TCP port of the HTTP server. */
  @IsInt() @Min(0) @Max(65535)
  PORT: number = 3000;

  /** Interface the HTTP server binds to. */
  @IsString()
  HOST: string = '127.0.0.1';

  /** pino log level. */
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: string = 'info';

  /** PostgreSQL connection URL. Unset: an embedded PostgreSQL is started under DATA_DIR. */
  @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// or postgresql:// URL' })
  DATABASE_URL: string | undefined = undefined;

  /** Folder for everything the service keeps on disk (embedded database, generated keys). */
  @IsString()
  DATA_DIR: string = '.data';

  /** Port of the embedded PostgreSQL (used only when DATABASE_URL is unset). */
  @IsInt() @Min(1) @Max(65535)
  EMBEDDED_PG_PORT: number = 54329;

  /** Maximum connections in the database pool. */
  @IsInt() @Min(1) @Max(200)
  DB_POOL_SIZE: number = 10;

  /** Largest single file, in bytes (decoded). */
  @IsInt() @Min(1)
  MAX_FILE_BYTES: number = 5 * MiB;

  /** Largest total size of one project's files, in bytes. */
  @IsInt() @Min(1)
  MAX_PROJECT_BYTES: number = 200 * MiB;

  /** Most files one project may hold. */
  @IsInt() @Min(1)
  MAX_FILES_PER_PROJECT: number = 20_000;

  /** Most files in one batch upsert. */
  @IsInt() @Min(1)
  MAX_BATCH_FILES: number = 5_000;

  /** Largest HTTP request body, in bytes (base64 content is 4/3 of its decoded size). */
  @IsInt() @Min(1024)
  MAX_REQUEST_BYTES: number = 64 * MiB;

  /** How long SIGTERM waits for in-flight requests before closing anyway, in milliseconds. */
  @IsInt() @Min(0)
  SHUTDOWN_TIMEOUT_MS: number = 10_000;

  /**
   * An admin key of the default workspace that is made valid at every start (deployments,
   * scripts, tests). Unset: on a first start with no keys, one is generated and printed once.
   */
  @IsOptional() @Matches(/^fl_[A-Za-z0-9_-]{32,}$/, { message: 'BOOTSTRAP_API_KEY must be "fl_" followed by at least 32 base64url characters' })
  BOOTSTRAP_API_KEY: string | undefined = undefined;

  /** How long a verified API key is trusted before it is looked up again (revocation delay in other processes). */
  @IsInt() @Min(0)
  API_KEY_CACHE_TTL_MS: number = 5_000;

  /** How often API keys' last use is written to the database, in one batch. */
  @IsInt() @Min(100)
  API_KEY_LAST_USED_FLUSH_MS: number = 30_000;

  /** Requests one API key (or one address, without a key) may make per window. */
  @IsInt() @Min(1)
  RATE_LIMIT_MAX: number = 1_000;

  /** The rate limit's window, in milliseconds. */
  @IsInt() @Min(1)
  RATE_LIMIT_WINDOW_MS: number = 60_000;

  /** Browser origins allowed by CORS, comma-separated (the dashboard's); empty allows none. */
  @IsString()
  CORS_ORIGINS: string = '';

  /**
   * Key that encrypts secrets at rest (AES-256-GCM): 32 bytes as base64 or 64 hex characters.
   * Required with DATABASE_URL (every process of a deployment must share it); unset in the
   * embedded default, one is generated once into DATA_DIR/secrets.key.
   */
  @IsOptional() @Matches(/^(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, { message: 'SECRETS_KEY must be 32 bytes as 64 hex characters or 44 base64 characters' })
  SECRETS_KEY: string | undefined = undefined;

  /** Largest secret value, in bytes. */
  @IsInt() @Min(1)
  MAX_SECRET_BYTES: number = 64 * 1024;

  /** Anthropic API key for agent runs. Unset: agents can be created, but starting a run answers 503. */
  @IsOptional() @IsString()
  ANTHROPIC_API_KEY: string | undefined = undefined;

  /** Base URL of the Anthropic Messages API (a proxy, or the tests' fake server). Unset: the SDK's default. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'ANTHROPIC_BASE_URL must be an http(s) URL' })
  ANTHROPIC_BASE_URL: string | undefined = undefined;

  /** Claude model an agent uses when its own `model` is not given. */
  @IsString() @Matches(/^[A-Za-z0-9._:@-]{1,100}$/, { message: 'ANTHROPIC_MODEL must be a model id' })
  ANTHROPIC_MODEL: string = 'claude-sonnet-5-5';

  /** Where agent runs send their API calls (this service). Unset: the address this process listens on. */
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'API_BASE_URL must be an http(s) URL' })
  API_BASE_URL: string | undefined = undefined;

  /** Retries of a model request on 429, 529, 5xx and connection errors (the SDK's retries; Retry-After is honoured). */
  @IsInt() @Min(0) @Max(20)
  AGENT_LLM_MAX_RETRIES: number = 4;

  /** First retry delay of a model request when the API sends no Retry-After, in ms; doubles per retry. */
  @IsInt() @Min(0)
  AGENT_LLM_RETRY_BASE_DELAY_MS: number = 500;

  /** Longest retry delay of a model request when the API sends no Retry-After, in ms. */
  @IsInt() @Min(0)
  AGENT_LLM_RETRY_MAX_DELAY_MS: number = 8_000;

  /** Longest wait for one model response (each attempt), in ms. */
  @IsInt() @Min(1_000)
  AGENT_LLM_REQUEST_TIMEOUT_MS: number = 300_000;

  /**
   * `max_tokens` of each model request: the most output tokens one reply may have. Requests are
   * not streamed, and the SDK refuses a non-streaming request whose reply could take over ten
   * minutes: at most 21,333 tokens (its own estimate of 128,000 tokens an hour).
   */
  @IsInt() @Min(1) @Max(21_333, { message: 'AGENT_MAX_OUTPUT_TOKENS must be at most 21333: requests are not streamed, and the Anthropic SDK refuses a non-streaming request that could take over 10 minutes' })
  AGENT_MAX_OUTPUT_TOKENS: number = 8_192;

  /** Tool calls of one model reply that are executed; the ones beyond are answered as not executed (so a run makes at most maxIterations × this many). */
  @IsInt() @Min(1)
  AGENT_MAX_TOOL_CALLS_PER_REPLY: number = 20;

  /** An agent's iteration limit (model requests per run) when it sets none. */
  @IsInt() @Min(1)
  AGENT_DEFAULT_MAX_ITERATIONS: number = 25;

  /** Highest iteration limit an agent may set. */
  @IsInt() @Min(1)
  AGENT_MAX_ITERATIONS_LIMIT: number = 200;

  /** An agent's token budget per run (input, cache and output tokens together) when it sets none. */
  @IsInt() @Min(1)
  AGENT_DEFAULT_MAX_TOKENS_PER_RUN: number = 500_000;

  /** Highest token budget per run an agent may set. */
  @IsInt() @Min(1)
  AGENT_MAX_TOKENS_PER_RUN_LIMIT: number = 10_000_000;

  /** An agent's run timeout when it sets none, in ms. */
  @IsInt() @Min(1_000)
  AGENT_DEFAULT_RUN_TIMEOUT_MS: number = 600_000;

  /** Longest run timeout an agent may set, in ms. */
  @IsInt() @Min(1_000)
  AGENT_MAX_RUN_TIMEOUT_MS: number = 3_600_000;

  /** Timeout of one tool call (one request to the API) when the agent sets none, in ms. */
  @IsInt() @Min(100)
  AGENT_DEFAULT_TOOL_TIMEOUT_MS: number = 30_000;

  /** Longest text of a run's input, in characters. */
  @IsInt() @Min(1)
  AGENT_MAX_INPUT_CHARS: number = 100_000;

  /** A tool result longer than this (characters) is cut for the model, with a note; the recorded call keeps more. */
  @IsInt() @Min(100)
  AGENT_TOOL_RESULT_MAX_CHARS: number = 20_000;

  /** Bytes of each API response kept in the run's recorded call (agent_api_calls.response_body). */
  @IsInt() @Min(1_024)
  AGENT_RECORDED_RESPONSE_MAX_BYTES: number = 1024 * 1024;

  /** Extra lifetime of a run's short-lived API key beyond the run timeout, in ms. */
  @IsInt() @Min(0)
  AGENT_RUN_KEY_MARGIN_MS: number = 60_000;

  /** Background agent runs one process executes at once; more wait in the queue. */
  @IsInt() @Min(1) @Max(100)
  AGENT_RUN_CONCURRENCY: number = 4;

  /** Runs started with wait=true that one process executes at once (inside their requests); beyond, 503 AGENT_BUSY. */
  @IsInt() @Min(1) @Max(100)
  AGENT_WAIT_RUN_CONCURRENCY: number = 4;

  /** How often a running run proves it is alive; one silent for 3 intervals is failed as interrupted. */
  @IsInt() @Min(100)
  AGENT_RUN_HEARTBEAT_MS: number = 10_000;

  /** Folder that holds each generated project's files (`<dir>/<projectId>/`). Unset: DATA_DIR/workspaces. */
  @IsOptional() @IsString()
  WORKSPACES_DIR: string | undefined = undefined;

  /** Longest wait for another generation of the same project (any process) to finish, in ms; then 409 GENERATION_BUSY. 0: does not wait. */
  @IsInt() @Min(0)
  GENERATE_LOCK_TIMEOUT_MS: number = 60_000;

  /** Most file content read from the database per query when generating, archiving or instantiating (bounds memory), in bytes. */
  @IsInt() @Min(64 * 1024)
  GENERATOR_BATCH_BYTES: number = 8 * MiB;

  /** zlib level of project archives (zip and tar.gz): 0 stores, 9 compresses most; 6 is gzip's default. */
  @IsInt() @Min(0) @Max(9)
  ARCHIVE_COMPRESSION_LEVEL: number = 6;

  /** Most variables one template instantiation may pass. */
  @IsInt() @Min(1)
  MAX_TEMPLATE_VARIABLES: number = 100;

  /** Most glob patterns a project template's `.forgeline-raw` and `metadata.template.raw` may hold together. */
  @IsInt() @Min(1)
  MAX_TEMPLATE_RAW_PATTERNS: number = 200;

  /** Largest value of one template variable, in bytes (UTF-8). */
  @IsInt() @Min(1)
  MAX_TEMPLATE_VARIABLE_BYTES: number = 16 * 1024;

  /** Serve Swagger UI at /docs and the OpenAPI document at /docs-json. */
  @EnvBoolean() @IsIn([true, false], { message: 'SWAGGER_ENABLED must be true or false' })
  SWAGGER_ENABLED: boolean = true;

  // ── Background jobs (src/queue) ──────────────────────────────────────────────────────────

  /** Redis for the job queues (Bull). Unset: jobs run in-process, in the process that enqueued them. */
  @IsOptional() @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL: string | undefined = undefined;

  /** Prefix of every Redis key the queues use (several deployments or test files can share one Redis). */
  @IsString() @Matches(/^[A-Za-z0-9_.-]{1,50}$/, { message: 'QUEUE_PREFIX must be 1-50 letters, digits, "_", "." or "-"' })
  QUEUE_PREFIX: string = 'forgeline';

  /** Jobs of each job type this process runs at once (the app and `npm run start:worker` alike); 0: this process only enqueues. */
  @IsInt() @Min(0) @Max(100)
  WORKER_CONCURRENCY: number = 2;

  /** Attempts of a job before it fails for good, unless its job type sets its own. */
  @IsInt() @Min(1) @Max(50)
  JOB_ATTEMPTS: number = 3;

  /** Delay before a job's first retry, in milliseconds; it doubles with each further retry. */
  @IsInt() @Min(0)
  JOB_BACKOFF_MS: number = 2_000;

  /** On shutdown, how long running jobs may finish before they are aborted and handed back, in milliseconds (keep it below SHUTDOWN_TIMEOUT_MS). */
  @IsInt() @Min(0)
  JOB_SHUTDOWN_GRACE_MS: number = 8_000;

  /**
   * Bull's job lock, in milliseconds: a worker renews it at half this interval, and a job whose
   * worker stopped renewing it (killed) is given to another worker at the next check, which comes
   * as often. Steps that were claimed are taken over sooner, by their heartbeats.
   */
  @IsInt() @Min(1_000)
  JOB_LOCK_MS: number = 30_000;

  /** How long enqueueing may wait for Redis, in milliseconds; the periodic sweep re-enqueues what could not be. */
  @IsInt() @Min(100)
  JOB_ENQUEUE_TIMEOUT_MS: number = 5_000;

  /** How often unfinished work found in PostgreSQL is re-enqueued (also once at start-up), in milliseconds; 0: only at start-up. */
  @IsInt() @Min(0)
  QUEUE_SWEEP_INTERVAL_MS: number = 60_000;

  // ── Git export (src/exporter) ────────────────────────────────────────────────────────────

  /** Folder of the projects' bare Git repositories. Unset: DATA_DIR/repos. */
  @IsOptional() @IsString()
  REPOS_DIR: string | undefined = undefined;

  /** Allow pushing to plain http:// remotes (loopback test servers); https:// only otherwise. */
  @EnvBoolean() @IsIn([true, false], { message: 'GIT_ALLOW_HTTP must be true or false' })
  GIT_ALLOW_HTTP: boolean = false;

  /** Let outbound HTTP (Git pushes) reach loopback, private and link-local addresses. Never in production. */
  @EnvBoolean() @IsIn([true, false], { message: 'OUTBOUND_ALLOW_PRIVATE must be true or false' })
  OUTBOUND_ALLOW_PRIVATE: boolean = false;

  /** Longest a whole push (every request of it) may take, in milliseconds. */
  @IsInt() @Min(1_000)
  GIT_PUSH_TIMEOUT_MS: number = 120_000;

  /** Redirects a push follows (same host only when it carries credentials). */
  @IsInt() @Min(0) @Max(20)
  GIT_MAX_REDIRECTS: number = 5;

  /** Author of export commits when the request names none. */
  @IsString() @Matches(/^[^<>\n\0]{1,200}$/, { message: 'GIT_AUTHOR_NAME must be 1-200 characters without <, > or newlines' })
  GIT_AUTHOR_NAME: string = 'Forgeline';

  /** E-mail of the default author. */
  @IsString() @Matches(/^[^<>\s\0]{1,200}$/, { message: 'GIT_AUTHOR_EMAIL must be 1-200 characters without <, > or spaces' })
  GIT_AUTHOR_EMAIL: string = 'forgeline@localhost';

  /** Committer of every export commit. */
  @IsString() @Matches(/^[^<>\n\0]{1,200}$/, { message: 'GIT_COMMITTER_NAME must be 1-200 characters without <, > or newlines' })
  GIT_COMMITTER_NAME: string = 'Forgeline';

  /** E-mail of the committer. */
  @IsString() @Matches(/^[^<>\s\0]{1,200}$/, { message: 'GIT_COMMITTER_EMAIL must be 1-200 characters without <, > or spaces' })
  GIT_COMMITTER_EMAIL: string = 'forgeline@localhost';

  /** How long an export waits for another export of the same project to finish, in milliseconds. */
  @IsInt() @Min(1_000)
  EXPORT_LOCK_TIMEOUT_MS: number = 600_000;

  /** Largest request body of a `git fetch`/`git clone` negotiation on /git/, in bytes. */
  @IsInt() @Min(1024)
  GIT_UPLOAD_PACK_MAX_REQUEST_BYTES: number = 16 * MiB;

  /** Longest a `git upload-pack` serving one clone or fetch may run, in milliseconds. */
  @IsInt() @Min(1_000)
  GIT_UPLOAD_PACK_TIMEOUT_MS: number = 600_000;

  // ── Workflows (src/workflows) ────────────────────────────────────────────────────────────

  /** Most steps one workflow may have. */
  @IsInt() @Min(1) @Max(10_000)
  MAX_WORKFLOW_STEPS: number = 200;

  /** Largest workflow definition (its steps as JSON), in bytes. */
  @IsInt() @Min(1024)
  MAX_WORKFLOW_DEFINITION_BYTES: number = 1 * MiB;

  /** Largest input of one workflow run (as JSON), in bytes. */
  @IsInt() @Min(2)
  MAX_WORKFLOW_INPUT_BYTES: number = 1 * MiB;

  /** Largest config of one step once its expressions are resolved (as JSON), in characters. */
  @IsInt() @Min(1024)
  MAX_STEP_CONFIG_BYTES: number = 4 * MiB;

  /** Largest output of one step (as JSON), in bytes; a larger one fails the step. */
  @IsInt() @Min(1024)
  MAX_STEP_OUTPUT_BYTES: number = 1 * MiB;

  /** Log lines kept per step attempt; later ones are counted, not kept. */
  @IsInt() @Min(1)
  MAX_STEP_LOG_LINES: number = 1_000;

  /** Longest step log line kept, in characters; longer ones are cut. */
  @IsInt() @Min(80)
  MAX_STEP_LOG_LINE_CHARS: number = 4_000;

  /** Highest `retry.attempts` a step may set (attempts in all, the first included). */
  @IsInt() @Min(1) @Max(100)
  MAX_STEP_ATTEMPTS: number = 10;

  /** Highest `retry.backoffMs` a step may set, in milliseconds. */
  @IsInt() @Min(0)
  MAX_STEP_BACKOFF_MS: number = 3_600_000;

  /** A step's timeout when it sets no `timeoutMs`, in milliseconds. */
  @IsInt() @Min(100)
  WORKFLOW_STEP_TIMEOUT_MS: number = 900_000;

  /** Highest `timeoutMs` a step may set, in milliseconds. */
  @IsInt() @Min(100)
  MAX_STEP_TIMEOUT_MS: number = 21_600_000;

  /** Workflow steps one process runs at once (0 when WORKER_CONCURRENCY is 0). */
  @IsInt() @Min(1) @Max(200)
  WORKFLOW_STEP_CONCURRENCY: number = 10;

  /** How often a running step proves its worker alive; one silent for 3 intervals is run again elsewhere. */
  @IsInt() @Min(50)
  WORKFLOW_STEP_HEARTBEAT_MS: number = 5_000;

  /**
   * How long a step that was never claimed may run before it is claimed (recorded as running in
   * PostgreSQL, with heartbeats from then on). A step that ends sooner is claimed and finished in
   * one write; meanwhile it shows as queued in the API (its SSE events are immediate), and a crash
   * leaves it queued, to be run again. 0: every step is claimed before it runs.
   */
  @IsInt() @Min(0) @Max(60_000)
  WORKFLOW_STEP_CLAIM_DELAY_MS: number = 50;

  /**
   * Largest output (JSON bytes) a step hands over in the job of the step that needs only it, so
   * that one can run before its claim (WORKFLOW_STEP_CLAIM_DELAY_MS); a larger output is read by
   * the claim instead.
   */
  @IsInt() @Min(0)
  WORKFLOW_HANDOFF_OUTPUT_BYTES: number = 16 * 1024;

  /**
   * Whether the engine's step writes (claims, results, heartbeats) wait for the WAL flush. false:
   * a PostgreSQL crash can lose the last fraction of a second of them, and those steps run again
   * (executors are idempotent, as for a worker crash); runs, cancels and retries always wait.
   */
  @EnvBoolean() @IsIn([true, false], { message: 'WORKFLOW_SYNCHRONOUS_COMMIT must be true or false' })
  WORKFLOW_SYNCHRONOUS_COMMIT: boolean = false;

  /** Run definitions (immutable snapshots) each process keeps in memory; also how many cancelled runs it remembers. */
  @IsInt() @Min(1)
  WORKFLOW_RUN_CACHE_SIZE: number = 1_000;

  /** Hosts `http_request` steps may call, comma-separated: names, IPs, `[v6]`, or `*.domain`; empty allows none. */
  @IsString() @Matches(/^[A-Za-z0-9.*:\[\]_, -]*$/, { message: 'HTTP_STEP_ALLOWED_HOSTS must be comma-separated host names, IP addresses or *.domain patterns' })
  HTTP_STEP_ALLOWED_HOSTS: string = '';

  /** Longest an `http_request` step waits for the whole response, in milliseconds (the step's own timeout also applies). */
  @IsInt() @Min(100)
  HTTP_STEP_TIMEOUT_MS: number = 30_000;

  /** Largest response body an `http_request` step reads, in bytes; a larger one fails the step. */
  @IsInt() @Min(1024)
  HTTP_STEP_MAX_RESPONSE_BYTES: number = 1 * MiB;

  /** Redirects an `http_request` step follows (each checked against the allowed hosts and addresses again). */
  @IsInt() @Min(0) @Max(20)
  HTTP_STEP_MAX_REDIRECTS: number = 5;
}

export class ConfigError extends Error {}

/** Variables whose value is a credential: a bad one is named, never echoed. */
const SECRET_VARIABLES = new Set(['BOOTSTRAP_API_KEY', 'SECRETS_KEY', 'ANTHROPIC_API_KEY']);

/** How a bad value is shown: secrets by their length only, URLs without their password. */
function shown(property: string, value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value);
  if (SECRET_VARIABLES.has(property)) return `<hidden, ${value.length} characters>`;
  // Whatever comes between the first ":" after the user name and the last "@" is taken as a password,
  // also in a malformed URL (a missing "//" or scheme), the only kind ever shown.
  if (property.endsWith('_URL')) return JSON.stringify(value.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?[^:/@]*):.*@/i, '$1:***@'));
  return JSON.stringify(value);
}

/**
 * Reads `.env` (when present, without overriding the real environment), then validates every
 * variable that AppConfig declares. Throws ConfigError naming each bad variable and its rule.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, envFile = '.env'): AppConfig {
  if (env === process.env && envFile && existsSync(envFile)) process.loadEnvFile(envFile);
  const keys = Object.keys(new AppConfig());
  const raw = Object.fromEntries(
    keys.filter((key) => env[key] !== undefined && env[key] !== '').map((key) => [key, env[key]]),
  );
  const config = plainToInstance(AppConfig, raw, { enableImplicitConversion: true });
  const errors = validateSync(config, { forbidUnknownValues: true });
  if (errors.length > 0) {
    const lines = errors.map((error) => {
      const rules = Object.values(error.constraints ?? {}).join('; ');
      return `  ${error.property}=${shown(error.property, raw[error.property])}: ${rules}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return config;
}

/**
 * The rules that hold between variables, for the processes that serve and run jobs (the
 * migration CLI needs none of them). Throws ConfigError naming the variable.
 */
export function checkServiceConfig(config: AppConfig): AppConfig {
  const problems: string[] = [];
  if (config.DATABASE_URL && !config.SECRETS_KEY) {
    problems.push('SECRETS_KEY is required when DATABASE_URL is set: every process that shares the database must encrypt and read secrets with the same key (make one with: openssl rand -hex 32)');
  }
  // One file of MAX_FILE_BYTES, base64-encoded in a JSON body, must fit in a request.
  const smallestBody = Math.ceil(config.MAX_FILE_BYTES / 3) * 4 + 64 * 1024;
  if (config.MAX_REQUEST_BYTES < smallestBody) {
    problems.push(`MAX_REQUEST_BYTES=${config.MAX_REQUEST_BYTES} is too small for one file of MAX_FILE_BYTES=${config.MAX_FILE_BYTES} sent as base64: it must be at least ${smallestBody}`);
  }
  // A default above its limit would make every agent or step that relies on it invalid.
  const atMost: Array<[keyof AppConfig, keyof AppConfig]> = [
    ['AGENT_DEFAULT_MAX_ITERATIONS', 'AGENT_MAX_ITERATIONS_LIMIT'],
    ['AGENT_DEFAULT_MAX_TOKENS_PER_RUN', 'AGENT_MAX_TOKENS_PER_RUN_LIMIT'],
    ['AGENT_DEFAULT_RUN_TIMEOUT_MS', 'AGENT_MAX_RUN_TIMEOUT_MS'],
    ['AGENT_DEFAULT_TOOL_TIMEOUT_MS', 'AGENT_DEFAULT_RUN_TIMEOUT_MS'],
    ['WORKFLOW_STEP_TIMEOUT_MS', 'MAX_STEP_TIMEOUT_MS'],
  ];
  for (const [value, limit] of atMost) {
    if ((config[value] as number) > (config[limit] as number)) problems.push(`${value}=${config[value]} is above ${limit}=${config[limit]}: it must be at most that`);
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  return config;
}
