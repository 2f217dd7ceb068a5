import { DomainError } from '../common/domain-error.js';
import { compileTemplate, isBinary, renderedBytes, renderTemplate } from './template-renderer.js';

function render(text: string, values: Record<string, string>): string {
  return renderTemplate(compileTemplate(text, 'content'), new Map(Object.entries(values)));
}

function refusal(text: string): DomainError {
  try {
    compileTemplate(text, 'files["x"].content');
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error(`"${text}" was not refused`);
}

describe('template renderer', () => {
  it('inserts variables verbatim, without HTML escaping, in both tag forms', () => {
    expect(render('const a = "{{v}}"; // {{{v}}} {{& v }}', { v: '<a & "b">' })).toBe('const a = "<a & "b">"; // <a & "b"> <a & "b">');
  });

  it('leaves text without tags alone and drops comments', () => {
    expect(render('plain ${x} { y } {a}', {})).toBe('plain ${x} { y } {a}');
    expect(render('a{{! note }}b', {})).toBe('ab');
  });

  it('supports changing the delimiters', () => {
    expect(render('{{=<% %>=}}<% name %> {{literal}}', { name: 'x' })).toBe('x {{literal}}');
  });

  it('lists each variable once', () => {
    expect(compileTemplate('{{a}}{{b}}{{a}}', 'f').variables).toEqual(['a', 'b']);
  });

  it('computes the rendered size without rendering', () => {
    const template = compileTemplate('é{{v}}-{{v}}', 'f');
    const values = new Map([['v', 'ü']]);
    expect(renderedBytes(template, values)).toBe(Buffer.byteLength(renderTemplate(template, values)));
  });

  it.each([
    ['{{constructor.constructor}}', 'expression'],
    ["{{constructor.constructor('return process')()}}", 'expression'],
    ['{{process.env.HOME}}', 'expression'],
    ["{{{require('child_process')}}}", 'expression'],
    ['{{__proto__}}', 'expression'],
    ['{{a.b}}', 'expression'],
    ['{{.}}', 'expression'],
    ['{{#lambda}}x{{/lambda}}', 'section'],
    ['{{^flag}}x{{/flag}}', 'section'],
    ['{{> partial}}', 'partial'],
    ['{{unclosed', 'syntax'],
    ['{{#open}}x', 'syntax'],
  ])('refuses %s with TEMPLATE_INVALID (%s) instead of evaluating it', (text, rule) => {
    const error = refusal(text);
    expect(error.code).toBe('TEMPLATE_INVALID');
    expect(error.status).toBe(400);
    expect(error.details?.[0]).toMatchObject({ field: 'files["x"].content', rule });
  });

  it('looks names up in the values only, never on prototypes', () => {
    const template = compileTemplate('{{constructor}}{{toString}}{{hasOwnProperty}}', 'f');
    expect(template.variables).toEqual(['constructor', 'toString', 'hasOwnProperty']);
    expect(() => renderTemplate(template, new Map())).toThrow(/no value for "constructor"/);
    expect(renderTemplate(template, new Map([['constructor', 'a'], ['toString', 'b'], ['hasOwnProperty', 'c']]))).toBe('abc');
  });

  it('tells binary content from UTF-8 text', () => {
    expect(isBinary(Buffer.from('héllo\n'))).toBe(false);
    expect(isBinary(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00]))).toBe(true);
    expect(isBinary(Buffer.from([0xff, 0xfe, 0x41]))).toBe(true);
    expect(isBinary(Buffer.alloc(0))).toBe(false);
  });
});
