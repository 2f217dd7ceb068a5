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
