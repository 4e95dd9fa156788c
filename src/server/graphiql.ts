import type { GraphiQLOptions, YogaServerOptions } from 'graphql-yoga';

/*
 * GraphiQL, served by Yoga on GET /graphql to a browser (Accept: text/html):
 * the one place where the page is configured and rendered.
 */

const EXAMPLE_QUERY = `# Send your token in the Headers tab: {"Authorization": "Bearer <token>"}
# (the operator token is printed at start when OPERATOR_TOKEN is unset).
query Catalogs {
  catalogs {
    code
    name
    maxUsers
    products { code kind allocation unit unitsPerLicense }
  }
}
`;

type Options = YogaServerOptions<Record<string, unknown>, Record<string, unknown>>;

/** What GraphiQL shows first; subscriptions go over graphql-ws on the same path. */
export const GRAPHIQL: GraphiQLOptions = {
  title: 'Licensing gateway',
  defaultQuery: EXAMPLE_QUERY,
  subscriptionsProtocol: 'WS',
};

/** GraphiQL's bundle is ~40 MiB of RSS once loaded: loaded only when someone opens it (no CDN, from the package). */
export const renderGraphiQL: NonNullable<Options['renderGraphiQL']> = async (options) =>
  (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options);
