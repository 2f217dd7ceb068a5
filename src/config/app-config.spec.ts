import { AppConfig, checkServiceConfig, ConfigError, loadConfig } from './app-config.js';

const MiB = 1024 * 1024;

/** loadConfig on `env` alone: the empty envFile means no .env is read. */
const load = (env: Record<string, string>) => loadConfig(env, '');

function errorOf(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = load({});
    expect(config).toBeInstanceOf(AppConfig);
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATA_DIR: '.data',
      EMBEDDED_PG_PORT: 54329,
      DB_POOL_SIZE: 10,
      MAX_FILE_BYTES: 5 * MiB,
      MAX_PROJECT_BYTES: 200 * MiB,
      MAX_FILES_PER_PROJECT: 20_000,
      MAX_BATCH_FILES: 5_000,
      MAX_REQUEST_BYTES: 64 * MiB,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      SWAGGER_ENABLED: true,
      CORS_ORIGINS: '',
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.BOOTSTRAP_API_KEY).toBeUndefined();
    expect(config.SECRETS_KEY).toBeUndefined();
  });

  it('treats an empty variable as unset', () => {
    expect(load({ PORT: '', DATABASE_URL: '' })).toMatchObject({ PORT: 3000, DATABASE_URL: undefined });
  });

  it('parses numbers and keeps strings', () => {
    const config = load({
      PORT: '8080',
      MAX_FILE_BYTES: '100',
      MAX_BATCH_FILES: '3',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgresql://u:p@db:5432/forgeline',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      MAX_FILE_BYTES: 100,
      MAX_BATCH_FILES: 3,
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgresql://u:p@db:5432/forgeline',
      LOG_LEVEL: 'debug',
    });
    expect(typeof config.PORT).toBe('number');
  });

  it('accepts a postgres:// URL as well as postgresql://', () => {
    expect(load({ DATABASE_URL: 'postgres://localhost/x' }).DATABASE_URL).toBe('postgres://localhost/x');
  });

  it.each(['false', '0', 'FALSE', 'no'])('parses SWAGGER_ENABLED=%s as false', (value) => {
    expect(load({ SWAGGER_ENABLED: value }).SWAGGER_ENABLED).toBe(false);
  });

  it.each(['true', '1', 'TRUE', 'yes'])('parses SWAGGER_ENABLED=%s as true', (value) => {
    expect(load({ SWAGGER_ENABLED: value }).SWAGGER_ENABLED).toBe(true);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['MAX_FILE_BYTES', '-1'],
    ['MAX_FILE_BYTES', '0'],
    ['MAX_BATCH_FILES', 'lots'],
    ['MAX_REQUEST_BYTES', '100'],
    ['SWAGGER_ENABLED', 'maybe'],
    ['DATABASE_URL', 'mysql://x'],
    ['LOG_LEVEL', 'verbose'],
    ['BOOTSTRAP_API_KEY', 'short'],
    ['SECRETS_KEY', 'not-a-key'],
    ['AGENT_MAX_OUTPUT_TOKENS', '30000'],
  ])('refuses %s=%j with a message naming the variable', (name, value) => {
    const error = errorOf({ [name]: value });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain(`${name}=`);
    // The value is echoed unless it is a secret.
    expect(error.message.includes(JSON.stringify(value))).toBe(!['BOOTSTRAP_API_KEY', 'SECRETS_KEY'].includes(name));
  });

  it('names every bad variable at once', () => {
    const error = errorOf({ PORT: 'abc', DATABASE_URL: 'mysql://x', MAX_FILE_BYTES: '-1' });
    expect(error.message).toContain('PORT');
    expect(error.message).toContain('DATABASE_URL');
    expect(error.message).toContain('MAX_FILE_BYTES');
  });

  it('names a bad secret without echoing it, and hides the password of a bad URL', () => {
    const error = errorOf({ SECRETS_KEY: 'a'.repeat(63), BOOTSTRAP_API_KEY: 'fl_short-but-secret', REDIS_URL: 'http://user:hunter2@cache:6379' });
    expect(error.message).toContain('SECRETS_KEY=<hidden, 63 characters>');
    expect(error.message).toContain('BOOTSTRAP_API_KEY=<hidden, 19 characters>');
    expect(error.message).toContain('REDIS_URL="http://user:***@cache:6379"');
    expect(error.message).not.toMatch(/aaaa|short-but-secret|hunter2/);
  });

  it.each([
    ['a missing "//"', 'postgres:/app:S3cretPw@db:5432/app'],
    ['no scheme', 'app:S3cretPw@db/app'],
    ['a password with "@" and "/"', 'redis:/:S3cr@t/Pw@cache'],
  ])('hides the password of a malformed URL (%s)', (_label, url) => {
    const error = errorOf({ DATABASE_URL: url, REDIS_URL: url });
    expect(error.message).toContain('DATABASE_URL=');
    expect(error.message).not.toMatch(/S3cr/);
  });

  it('refuses a default above its limit, naming both variables', () => {
    const error = (() => {
      try {
        checkServiceConfig(load({ AGENT_MAX_ITERATIONS_LIMIT: '10', AGENT_DEFAULT_RUN_TIMEOUT_MS: '10000', WORKFLOW_STEP_TIMEOUT_MS: '7200000', MAX_STEP_TIMEOUT_MS: '3600000' }));
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('no error');
    })();
    expect(error.message).toContain('AGENT_DEFAULT_MAX_ITERATIONS=25 is above AGENT_MAX_ITERATIONS_LIMIT=10');
    expect(error.message).toContain('AGENT_DEFAULT_TOOL_TIMEOUT_MS=30000 is above AGENT_DEFAULT_RUN_TIMEOUT_MS=10000');
    expect(error.message).toContain('WORKFLOW_STEP_TIMEOUT_MS=7200000 is above MAX_STEP_TIMEOUT_MS=3600000');
    expect(checkServiceConfig(load({})).AGENT_DEFAULT_MAX_ITERATIONS).toBe(25);
  });

  it('requires SECRETS_KEY of a service that uses DATABASE_URL, and not of the embedded default', () => {
    expect(() => checkServiceConfig(load({ DATABASE_URL: 'postgresql://db/forgeline' }))).toThrow(/SECRETS_KEY is required when DATABASE_URL is set/);
    expect(checkServiceConfig(load({ DATABASE_URL: 'postgresql://db/forgeline', SECRETS_KEY: 'a'.repeat(64) })).SECRETS_KEY).toBe('a'.repeat(64));
    expect(checkServiceConfig(load({})).SECRETS_KEY).toBeUndefined();
  });

  it('requires a request body limit that fits one file of MAX_FILE_BYTES in base64', () => {
    expect(() => checkServiceConfig(load({ MAX_FILE_BYTES: String(60 * MiB) }))).toThrow(/MAX_REQUEST_BYTES=67108864 is too small for one file of MAX_FILE_BYTES=62914560/);
    expect(checkServiceConfig(load({ MAX_FILE_BYTES: String(60 * MiB), MAX_REQUEST_BYTES: String(90 * MiB) })).MAX_FILE_BYTES).toBe(60 * MiB);
  });

  it('does not name the variables that are fine', () => {
    const error = errorOf({ PORT: 'abc', HOST: 'example.test' });
    expect(error.message).not.toContain('HOST');
  });

  it('ignores variables it does not know', () => {
    const config = load({ PATH: '/usr/bin', HOME: '/root', FORGELINE_UNKNOWN: 'x', PORT: '4000' });
    expect(config.PORT).toBe(4000);
    expect(config).not.toHaveProperty('FORGELINE_UNKNOWN');
    expect(config).not.toHaveProperty('PATH');
  });
});
