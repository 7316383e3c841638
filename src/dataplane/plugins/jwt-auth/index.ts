import { Type, type Static } from '@sinclair/typebox';
import type { PluginDefinition } from '../../pipeline/plugin.js';
import { createAuth } from '../auth/index.js';
import { checkJwt, JwtSettings } from '../auth/jwt.js';

const Schema = Type.Object({ api: Type.String({ minLength: 1 }), ...JwtSettings }, { additionalProperties: false });
type Config = Static<typeof Schema>;

/**
 * `jwt-auth`: the `auth` plugin with bearer JWTs only, in the shape it had before `auth` existed;
 * see src/dataplane/plugins/auth/jwt.ts.
 */
export const jwtAuthPlugin: PluginDefinition<Config> = {
  name: 'jwt-auth',
  stage: 'authenticate',
  schema: Schema,
  check: (config) => checkJwt({ ...config }),
  create({ api, ...jwt }) {
    return createAuth({ api, jwt }, 'jwt-auth');
  },
};
