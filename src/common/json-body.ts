import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DomainError } from './domain-error.js';

const MAX_DEPTH = 64;

/** The path of the first string (or key) in `value` that is not well-formed Unicode, or null. */
export function illFormedTextAt(value: unknown, path = '', depth = 0): string | null {
  if (typeof value === 'string') return value.isWellFormed() ? null : path || '(body)';
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return null;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = illFormedTextAt(value[index], `${path}[${index}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [key, inner] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (!key.isWellFormed()) return at;
    const found = illFormedTextAt(inner, at, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * JSON bodies as Fastify parses them, plus one rule: no lone UTF-16 surrogate (`"\ud800"`) in
 * any string or key. Such text has no UTF-8 form: PostgreSQL refuses it in jsonb (a 500) and
 * silently replaces it in text, so it is a 400 naming the field, before any handler runs.
 */
export function registerJsonBodyParser(app: NestFastifyApplication, bodyLimit: number): void {
  // Fastify's own JSON parser (prototype poisoning refused), wrapped.
  const parse = app.getHttpAdapter().getInstance().getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', { bodyLimit }, (request, body, done) => {
    parse(request as never, body.toString('utf8'), (error: Error | null, value?: unknown) => {
      if (error) return done(error, undefined);
      const field = illFormedTextAt(value);
      if (!field) return done(null, value);
      const message = `${field} holds a lone UTF-16 surrogate (\\uD800-\\uDFFF without its pair), which is not Unicode text`;
      done(new DomainError('VALIDATION_FAILED', message, [{ field, rule: 'well-formed-unicode', message }]), undefined);
    });
  });
}
