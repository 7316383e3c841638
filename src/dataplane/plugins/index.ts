import { PluginRegistry } from '../pipeline/registry.js';
import { headersPlugin } from './headers/index.js';
import { respondPlugin } from './respond/index.js';
import { keyAuthPlugin } from './key-auth/index.js';
import { jwtAuthPlugin } from './jwt-auth/index.js';
import { authPlugin } from './auth/index.js';
import { corsPlugin } from './cors/index.js';
import { ipRestrictionPlugin } from './ip-restriction/index.js';
import { transformPlugin } from './transform/index.js';
import { rateLimitPlugin } from './rate-limit/index.js';
import { validatePlugin } from './validate/index.js';
import { maskPlugin } from './mask/index.js';
import { cachePlugin } from './cache/index.js';

/** Every plugin type built into Weir. Later stages (auth, rate limits, cache …) register here. */
export const builtinPlugins = new PluginRegistry([
  headersPlugin,
  respondPlugin,
  keyAuthPlugin,
  jwtAuthPlugin,
  authPlugin,
  corsPlugin,
  ipRestrictionPlugin,
  transformPlugin,
  rateLimitPlugin,
  validatePlugin,
  maskPlugin,
  cachePlugin,
]);
