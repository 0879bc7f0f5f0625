// Parses a CloudFormation YAML template into plain JSON form: the short-form intrinsic tags (!Ref,
// !Sub, !GetAtt, ...) become their long forms ({"Ref": ...}, {"Fn::Sub": ...}, ...).
import { readFileSync } from 'node:fs';
import { parse, type ScalarTag, type CollectionTag, type YAMLMap, type YAMLSeq } from 'yaml';

const FUNCTIONS = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'And',
  'Equals',
  'Not',
  'Or',
  'Condition',
] as const;

function key(name: string): string {
  return name === 'Condition' ? 'Condition' : `Fn::${name}`;
}

function tags(): Array<ScalarTag | CollectionTag> {
  const out: Array<ScalarTag | CollectionTag> = [
    { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
    // !GetAtt Resource.Attribute is short for ["Resource", "Attribute"].
    {
      tag: '!GetAtt',
      resolve: (value: string) => {
        const dot = value.indexOf('.');
        return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
      },
    },
    {
      tag: '!GetAtt',
      collection: 'seq',
      resolve: (seq: YAMLSeq) => ({ 'Fn::GetAtt': seq.toJSON() as unknown }),
    } as unknown as CollectionTag,
  ];
  for (const name of FUNCTIONS) {
    const tag = `!${name}`;
    out.push({ tag, resolve: (value: string) => ({ [key(name)]: value }) });
    out.push({
      tag,
      collection: 'seq',
      resolve: (seq: YAMLSeq) => ({ [key(name)]: seq.toJSON() as unknown }),
    } as unknown as CollectionTag);
    out.push({
      tag,
      collection: 'map',
      resolve: (map: YAMLMap) => ({ [key(name)]: map.toJSON() as unknown }),
    } as unknown as CollectionTag);
  }
  return out;
}

export type Template = {
  Parameters: Record<string, { Type: string; Default?: unknown } & Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> } & Record<string, unknown>>;
  Outputs: Record<string, { Value: unknown; Description?: string }>;
};

export function loadTemplate(path: string): Template {
  return parse(readFileSync(path, 'utf8'), { customTags: tags() }) as Template;
}

/** Every value anywhere under `node`, depth first. */
export function* walk(node: unknown): Generator<unknown> {
  yield node;
  if (Array.isArray(node)) for (const item of node) yield* walk(item);
  else if (node && typeof node === 'object') for (const value of Object.values(node)) yield* walk(value);
}

/** Replaces ${Name} and ${Name.Attr} in an Fn::Sub string with values from `values` (or a placeholder). */
export function substitute(text: string, values: Record<string, string> = {}): string {
  return text.replace(
    /\$\{([^}!][^}]*)\}/g,
    (_m, name: string) => values[name] ?? `SUB_${name.replace(/[^A-Za-z0-9]/g, '_')}`,
  );
}
