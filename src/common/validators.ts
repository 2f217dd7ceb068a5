import { ValidateIf, ValidationOptions, registerDecorator } from 'class-validator';

/**
 * Optional, but not nullable: an absent field is skipped, while `null` is validated (and so
 * refused by the field's other rules) instead of reaching a NOT NULL column.
 */
export function IsOptionalNotNull(): PropertyDecorator {
  return ValidateIf((_object, value) => value !== undefined);
}

function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, inner]) => key.includes('\u0000') || hasNul(inner, depth + 1));
}

/** PostgreSQL text and jsonb cannot hold NUL characters: refuse them with a 400, not a 500. */
export function HasNoNul(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'hasNoNul',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${String(propertyName)} must not contain NUL characters`, ...options },
      validator: { validate: (value: unknown) => !hasNul(value) },
    });
}
