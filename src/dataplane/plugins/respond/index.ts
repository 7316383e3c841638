import { Type, type Static } from '@sinclair/typebox';
import { ERRORS, type ErrorCode } from '../../../errors.js';
import { respondProblem, type PluginDefinition } from '../../pipeline/plugin.js';

const Schema = Type.Object(
  {
    code: Type.Union(Object.keys(ERRORS).map((c) => Type.Literal(c)), { description: 'The WEIR_… code to answer with; its status is the answer\'s.' }),
    detail: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/**
 * `respond`: answers every request of the route itself with problem+json for a `WEIR_…` code —
 * the upstream is never called. Retired API versions answer 410 `WEIR_API_RETIRED` this way; it
 * also serves a maintenance window (`WEIR_SHUTTING_DOWN`) or a route kept only to refuse.
 *
 * @example
 * plugins:
 *   - name: respond
 *     config: { code: WEIR_API_RETIRED, detail: "v1 was retired on 2027-01-01; use /shop/v2" }
 */
export const respondPlugin: PluginDefinition<Config> = {
  name: 'respond',
  stage: 'authenticate',
  schema: Schema,
  create(config) {
    const code = config.code as ErrorCode;
    return {
      name: 'respond',
      stage: 'authenticate',
      onRequest(ctx) {
        respondProblem(ctx, code, config.detail);
      },
    };
  },
};
