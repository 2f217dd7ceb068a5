import type { TemplateVariable } from '../template-definition.js';

/** Text that goes into JSON strings, Markdown and doc comments alike: no quotes, backslashes, control characters or comment ends. */
export const ONE_LINE_TEXT = '(?:(?!\\*/)[^"\\\\\\u0000-\\u001f\\u007f])*';
export const KEBAB_NAME = '[a-z][a-z0-9]*(?:-[a-z0-9]+)*';

export function descriptionVariable(fallback: string): TemplateVariable {
  return {
    name: 'description',
    description: 'One line describing the project (package.json, README)',
    default: fallback,
    pattern: ONE_LINE_TEXT,
    patternHint: 'must be one line without double quotes, backslashes or "*/"',
    example: fallback,
  };
}

export const GITIGNORE = `node_modules/
dist/
coverage/
*.log
.env
`;
