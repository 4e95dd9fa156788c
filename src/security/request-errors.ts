import { GraphQLError, type ASTVisitor, type StringValueNode, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

const SUGGESTION = /\s*Did you mean .+\?/;
const SUGGESTIONS = /\s*Did you mean .+\?/g;

/** The error without suggestions (when asked) and with `code` (when it has none and one is given). */
function cleaned(error: GraphQLError, hideSuggestions: boolean, code?: string): GraphQLError {
  const hide = hideSuggestions && SUGGESTION.test(error.message);
  const addCode = code !== undefined && error.extensions.code === undefined;
  if (!hide && !addCode) return error;
  return new GraphQLError(hide ? error.message.replace(SUGGESTIONS, '') : error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: addCode ? { ...error.extensions, code } : error.extensions,
  });
}

/**
 * Errors graphql-js reports before any resolver runs (a variable of the wrong
 * type, an unknown operation name) carry no code; they are input errors, so
 * they get BAD_USER_INPUT (R-API-1). With introspection off, "Did you mean …"
 * suggestions are removed from them and from validation errors (graphql-armor's
 * filter only knows field suggestions, not enum values).
 */
export function useRequestErrors({ hideSuggestions }: { hideSuggestions: boolean }): Plugin {
  return {
    onValidate() {
      if (!hideSuggestions) return undefined;
      // graphql-armor's filter misses enum values ("Did you mean the enum value …").
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map((e) => cleaned(e, true)));
      };
    },
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          // A result without data is a request error (execution never started).
          if (!('errors' in result) || !result.errors?.length || ('data' in result && result.data !== undefined)) return;
          setResult({ ...result, errors: result.errors.map((e) => cleaned(e, hideSuggestions, 'BAD_USER_INPUT')) });
        },
      };
    },
  };
}

function badRequest(message: string, status = 400, rule?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', ...(rule ? { rule } : {}), http: { status } } });
}

/** Strict UTF-8: a malformed sequence throws instead of becoming U+FFFD; a leading BOM is dropped (JSON parsers may ignore one). */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The body as text; invalid UTF-8 is BAD_REQUEST (R-SEC-4). */
function strictUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw badRequest('the request body is not valid UTF-8 (R-SEC-4)', 400, 'R-SEC-4');
  }
}

/** The media types Yoga reads as a JSON POST body (its own test, on the type without parameters). */
function isJsonPost(request: Request): boolean {
  if (request.method !== 'POST') return false;
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' || type === 'application/graphql+json';
}

/**
 * A JSON POST body as Yoga's own parser reads it, but strict about its
 * encoding: invalid UTF-8 is refused (Yoga would store U+FFFD for it), a BOM
 * is ignored (Yoga's JSON.parse failed on it), and a parse error never
 * carries the parser's message (Yoga puts it in extensions.originalError).
 */
async function parseJsonBody(request: Request): Promise<unknown> {
  const text = strictUtf8(new Uint8Array(await request.arrayBuffer()));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('POST body sent invalid JSON.');
  }
  if (body === null || typeof body !== 'object')
    throw badRequest(`POST body is expected to be object but received ${body === null ? 'null' : typeof body}`);
  return body;
}

/** A parser's error without extensions.originalError (the parser's own message). */
function withoutOriginalError(error: GraphQLError): GraphQLError {
  if (error.extensions.originalError === undefined) return error;
  const { originalError: _dropped, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { extensions });
}

/**
 * The shape of an HTTP request, before any operation (R-SEC-4):
 * - a POST in a media type no parser reads gets Yoga's 415 with a JSON error
 *   saying what to send (Yoga's own has no body);
 * - a JSON body must be UTF-8 (a leading BOM is ignored);
 * - a parser that throws on what the client sent (broken JSON; a GET or form
 *   whose `variables` is not JSON: Yoga calls JSON.parse unguarded) gives
 *   400, not a masked 500, and never the parser's own message;
 * - a batch must be a non-empty array of objects (`[]` would get `[]`, a
 *   `null` entry a masked 500).
 */
export function useRequestShape(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, endResponse, fetchAPI }) {
      if (!requestParser) {
        if (request.method !== 'POST') return undefined;
        endResponse(
          new fetchAPI.Response(
            JSON.stringify({ errors: [{ message: 'Unsupported Media Type: send application/json', extensions: { code: 'BAD_REQUEST' } }] }),
            { status: 415, headers: { 'content-type': 'application/json; charset=utf-8' } },
          ),
        );
        return undefined;
      }
      const parse = requestParser;
      setRequestParser(async (req) => {
        try {
          // `req` comes through Yoga's body size limit (registered after this plugin, so it wraps this parser).
          if (isJsonPost(req)) return (await parseJsonBody(req)) as Awaited<ReturnType<typeof parse>>;
          // Yoga's other parsers (application/graphql, forms, multipart) would read invalid UTF-8 as U+FFFD.
          if (req.method === 'POST') strictUtf8(new Uint8Array(await req.clone().arrayBuffer()));
          return await parse(req);
        } catch (error) {
          // Yoga's multipart parser throws errors without a code (and answers them 200).
          if (error instanceof GraphQLError)
            throw withoutOriginalError(error.extensions.code === undefined ? badRequest(error.message) : error);
          throw badRequest(
            error instanceof SyntaxError ? 'variables and extensions must be JSON objects' : 'the request could not be read',
          );
        }
      });
      return {
        onRequestParseDone({ requestParserResult }) {
          if (!Array.isArray(requestParserResult)) return;
          if (requestParserResult.length === 0) throw badRequest('a batch must contain at least one operation');
          const bad = requestParserResult.findIndex(
            (params: unknown) => params === null || typeof params !== 'object' || Array.isArray(params),
          );
          if (bad >= 0) throw badRequest(`batch entry ${bad} must be an object with a query`);
        },
      };
    },
  };
}

/** U+0000 (PostgreSQL text cannot hold it) or a UTF-16 surrogate without its pair (not Unicode; stored as U+FFFD). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding U+0000 is the point of this pattern
const ILL_FORMED = /\u0000|\p{Cs}/u;
const ILL_FORMED_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** The path (`input.functions[2]`) of the first string in `variables` that no column could store as sent. */
export function illFormedStringPath(variables: Readonly<Record<string, unknown>>): string | null {
  // Iterative: a variable nested 100 000 levels deep must not exhaust the stack.
  const stack: [unknown, string][] = Object.entries(variables).map(([name, value]) => [value, name]);
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (ILL_FORMED.test(value)) return path;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}[${i}]`]);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) stack.push([item, `${path}.${key}`]);
    }
  }
  return null;
}

/**
 * Refuses strings no database column could store as sent, in variables and in
 * literals, over HTTP and graphql-ws alike: U+0000 (PostgreSQL rejects it,
 * which would surface as a masked error) and unpaired surrogates (silently
 * replaced by U+FFFD on the way to UTF-8, so what was stored would differ from
 * what was acknowledged). BAD_USER_INPUT names the variable path, like the
 * domain's input errors (`input.email: …`).
 */
export function useWellFormedStrings(): Plugin {
  const refuse = (variables: unknown): GraphQLError | null => {
    if (variables === null || typeof variables !== 'object') return null;
    const path = illFormedStringPath(variables as Record<string, unknown>);
    return path === null
      ? null
      : new GraphQLError(`${path}: ${ILL_FORMED_MESSAGE}`, { extensions: { code: 'BAD_USER_INPUT', field: path } });
  };
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(
        (context: ValidationContext): ASTVisitor => ({
          StringValue(node: StringValueNode) {
            if (ILL_FORMED.test(node.value)) {
              context.reportError(
                new GraphQLError(`query: a string literal ${ILL_FORMED_MESSAGE}`, {
                  nodes: [node],
                  extensions: { code: 'BAD_USER_INPUT', field: 'query' },
                }),
              );
            }
          },
        }),
      );
    },
    onExecute({ args, setResultAndStopExecution }) {
      const error = refuse(args.variableValues);
      if (error) setResultAndStopExecution({ data: null, errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = refuse(args.variableValues);
      if (error) setResultAndStopExecution({ data: null, errors: [error] });
    },
  };
}
