import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isSpecifiedScalarType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/schema/index.ts';

const described = (text: string | null | undefined) => (text ?? '').trim() !== '';

/** Every type, field, argument, input field and enum value the schema defines without a description. */
function undescribed(schema: GraphQLSchema): string[] {
  const missing: string[] = [];
  const args = (owner: string, list: readonly GraphQLArgument[]) => {
    for (const arg of list) if (!described(arg.description)) missing.push(`argument ${owner}(${arg.name}:)`);
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue;
    if (!described(type.description)) missing.push(`type ${type.name}`);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
        if (!described(field.description)) missing.push(`field ${type.name}.${field.name}`);
        args(`${type.name}.${field.name}`, field.args);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields()) as GraphQLInputField[]) {
        if (!described(field.description)) missing.push(`input field ${type.name}.${field.name}`);
      }
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) {
        if (!described(value.description)) missing.push(`enum value ${type.name}.${value.name}`);
      }
    }
  }
  for (const directive of schema.getDirectives()) {
    if (['include', 'skip', 'deprecated', 'specifiedBy', 'oneOf'].includes(directive.name)) continue;
    if (!described(directive.description)) missing.push(`directive @${directive.name}`);
    args(`@${directive.name}`, directive.args);
  }
  return missing.sort();
}

describe('schema descriptions (GraphiQL docs pane)', () => {
  it('describes every type, field, argument, input field and enum value', () => {
    const missing = undescribed(getSchema());
    expect(missing, `${missing.length} schema elements lack a description:\n${missing.join('\n')}`).toEqual([]);
  });

  it('finds an element without a description (the check itself can fail)', async () => {
    const { buildSchema } = await import('graphql');
    const probe = buildSchema('"""Root."""\ntype Query {\n  """Described."""\n  a(x: Int): Int\n  b: Int\n}');
    expect(undescribed(probe)).toEqual(['argument Query.a(x:)', 'field Query.b']);
  });
});
