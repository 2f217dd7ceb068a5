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
   * Unset: one is generated once into DATA_DIR/secrets.key.
   */
  @IsOptional() @Matches(/^(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, { message: 'SECRETS_KEY must be 32 bytes as 64 hex characters or 44 base64 characters' })
  SECRETS_KEY: string | undefined = undefined;

  /** Largest secret value, in bytes. */
  @IsInt() @Min(1)
  MAX_SECRET_BYTES: number = 64 * 1024;

  /** Serve Swagger UI at /docs and the OpenAPI document at /docs-json. */
  @EnvBoolean() @IsIn([true, false], { message: 'SWAGGER_ENABLED must be true or false' })
  SWAGGER_ENABLED: boolean = true;
}

export class ConfigError extends Error {}

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
      return `  ${error.property}=${JSON.stringify(raw[error.property])}: ${rules}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return config;
}
