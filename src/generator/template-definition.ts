/** How a template declares its variables, and the built-in templates' shape. */

export const NAME_CASES = ['pascal', 'camel', 'kebab', 'snake', 'constant'] as const;
export type NameCase = (typeof NAME_CASES)[number];

export interface TemplateVariable {
  name: string;
  description: string;
  /** Used when the caller passes no value. Neither `default` nor `derive`: the variable is required. */
  default?: string;
  /** When not passed, the value is another variable's value in another letter case. */
  derive?: { from: string; case: NameCase };
  /**
   * A regular expression the whole value must match. Built-in templates only: a pattern is code
   * the service trusts (a pattern from a project's metadata could be made to backtrack for minutes).
   */
  pattern?: string;
  /** What the pattern means, for the error message. */
  patternHint?: string;
  example?: string;
}

export interface BuiltinTemplateFile {
  /** A template path: rendered like content, then checked by the same rules as an uploaded file. */
  path: string;
  content: string;
  executable?: boolean;
}

export interface BuiltinTemplate {
  name: string;
  description: string;
  variables: TemplateVariable[];
  files: BuiltinTemplateFile[];
}

function words(value: string): string[] {
  return value
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word.toLowerCase());
}

const capital = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** "invoice-items" → InvoiceItems / invoiceItems / invoice-items / invoice_items / INVOICE_ITEMS. */
export function toCase(value: string, nameCase: NameCase): string {
  const parts = words(value);
  switch (nameCase) {
    case 'pascal':
      return parts.map(capital).join('');
    case 'camel':
      return parts.map((word, index) => (index === 0 ? word : capital(word))).join('');
    case 'kebab':
      return parts.join('-');
    case 'snake':
      return parts.join('_');
    case 'constant':
      return parts.join('_').toUpperCase();
  }
}
