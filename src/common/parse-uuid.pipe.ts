import { ParseUUIDPipe } from '@nestjs/common';
import { DomainError } from './domain-error.js';

/** ParseUUIDPipe whose 400 names the parameter and the rule, in the common error shape. */
export function ParseUuid(field = 'id'): ParseUUIDPipe {
  return new ParseUUIDPipe({
    exceptionFactory: () => {
      const message = `${field} must be a UUID`;
      return new DomainError('VALIDATION_FAILED', message, [{ field, rule: 'isUuid', message }]);
    },
  });
}
