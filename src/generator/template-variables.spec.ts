import { DomainError } from '../common/domain-error.js';
import { TemplateVariable, toCase } from './template-definition.js';
import { checkPathValue, checkVariablesUsed, resolveVariables } from './template-variables.js';

const limits = { maxVariables: 3, maxValueBytes: 16 };

function failure(run: () => unknown): DomainError {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('did not fail');
}

describe('template variables', () => {
  const definitions: TemplateVariable[] = [
    { name: 'resourceName', description: 'kebab', default: 'items', pattern: '[a-z-]+' },
    { name: 'resourceClass', description: 'pascal', derive: { from: 'resourceName', case: 'pascal' } },
    { name: 'packageName', description: 'the npm name' },
  ];

  it('applies defaults, then derived values, and keeps what was passed', () => {
    const values = resolveVariables(definitions, { resourceName: 'invoice-items', packageName: 'x' }, limits);
    expect(Object.fromEntries(values)).toEqual({ resourceName: 'invoice-items', resourceClass: 'InvoiceItems', packageName: 'x' });
    expect(resolveVariables(definitions, {}, limits).get('resourceClass')).toBe('Items');
  });

  it('refuses too many variables, bad names, non-strings and huge values, naming each', () => {
    expect(failure(() => resolveVariables([], { a: '1', b: '2', c: '3', d: '4' }, limits)).details?.[0]).toMatchObject({ rule: 'max-variables' });
    const error = failure(() => resolveVariables([], { 'a.b': 'x', n: 5, big: 'x'.repeat(17) }, limits));
    expect(error.code).toBe('TEMPLATE_VARIABLE_INVALID');
    expect(error.details).toEqual([
      expect.objectContaining({ field: 'variables.a.b', rule: 'name' }),
      expect.objectContaining({ field: 'variables.n', rule: 'type' }),
      expect.objectContaining({ field: 'variables.big', rule: 'max-bytes' }),
    ]);
    expect(failure(() => resolveVariables([], ['x'], limits)).details?.[0]).toMatchObject({ field: 'variables', rule: 'type' });
  });

  it('checks declared patterns against the whole value', () => {
    const error = failure(() => resolveVariables(definitions, { resourceName: 'Bad Name' }, limits));
    expect(error.details?.[0]).toMatchObject({ field: 'variables.resourceName', rule: 'pattern' });
  });

  it('names every missing variable, and refuses one the template does not use', () => {
    const missing = failure(() => checkVariablesUsed(definitions, new Set(['extra', 'resourceName']), [], new Map([['resourceName', 'a'], ['resourceClass', 'A']])));
    expect(missing.code).toBe('TEMPLATE_VARIABLE_MISSING');
    expect(missing.message).toContain('extra, packageName');
    expect(missing.details?.map((d) => d.field)).toEqual(['variables.extra', 'variables.packageName']);
    const unknown = failure(() => checkVariablesUsed([], new Set(['a']), ['a', 'typo'], new Map([['a', '1'], ['typo', '2']])));
    expect(unknown.details?.[0]).toMatchObject({ field: 'variables.typo', rule: 'unknown' });
  });

  it('keeps a value used in a path to one name', () => {
    expect(failure(() => checkPathValue('dir', 'a/b', 'src/{{dir}}/x.ts')).details?.[0]).toMatchObject({ rule: 'path-separator' });
    expect(failure(() => checkPathValue('dir', 'a\\b', 'x')).details?.[0]).toMatchObject({ rule: 'path-separator' });
    expect(failure(() => checkPathValue('dir', '..', 'x')).details?.[0]).toMatchObject({ rule: 'dot-segment' });
    expect(() => checkPathValue('dir', 'a..b', 'x')).not.toThrow();
  });

  it('converts between letter cases', () => {
    expect(toCase('invoice-items', 'pascal')).toBe('InvoiceItems');
    expect(toCase('InvoiceItems', 'kebab')).toBe('invoice-items');
    expect(toCase('invoice items2', 'camel')).toBe('invoiceItems2');
    expect(toCase('invoiceItems', 'constant')).toBe('INVOICE_ITEMS');
    expect(toCase('Invoice-Items', 'snake')).toBe('invoice_items');
  });
});
