import { Type, type Static } from '@sinclair/typebox';
import type { PluginDefinition } from '../../pipeline/plugin.js';
import { createAuth } from '../auth/index.js';
import { BasicOptions, KeysOptions } from '../auth/keys.js';

const Schema = Type.Object(
  {
    api: Type.String({ minLength: 1, description: 'The API whose subscriptions are checked.' }),
    header: KeysOptions.properties.header,
    hideCredentials: Type.Optional(Type.Boolean({ description: 'Remove the key (or Authorization) before the request goes upstream (default true).' })),
    keys: KeysOptions.properties.credentials,
    basic: Type.Optional(BasicOptions.properties.credentials),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/**
 * `key-auth`: the `auth` plugin with API keys (and optionally HTTP Basic) only, in the shape it
 * had before `auth` existed; see src/dataplane/plugins/auth.
 */
export const keyAuthPlugin: PluginDefinition<Config> = {
  name: 'key-auth',
  stage: 'authenticate',
  schema: Schema,
  create(config) {
    const hide = config.hideCredentials === undefined ? {} : { hideCredentials: config.hideCredentials };
    return createAuth(
      {
        api: config.api,
        keys: { ...(config.header === undefined ? {} : { header: config.header }), ...hide, credentials: config.keys },
        ...(config.basic === undefined ? {} : { basic: { ...hide, credentials: config.basic } }),
      },
      'key-auth',
    );
  },
};
