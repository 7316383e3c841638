import { Type, type Static } from '@sinclair/typebox';
import type { ErrorCode } from '../../../errors.js';
import type { RequestContext } from '../../pipeline/plugin.js';

export const Subscription = Type.Union([Type.Literal('approved'), Type.Literal('pending'), Type.Literal('rejected'), Type.Literal('revoked'), Type.Literal('none')]);
export type SubscriptionState = Static<typeof Subscription>;

/** A credential's consumer and that consumer's subscription to the API: what the control plane fills in per credential. */
export const Entry = Type.Object(
  {
    consumer: Type.String(),
    team: Type.String(),
    credential: Type.String(),
    /** ms since the epoch; null: no expiry. */
    expiresAt: Type.Union([Type.Number(), Type.Null()]),
    subscription: Subscription,
  },
  { additionalProperties: false },
);
export type EntryT = Static<typeof Entry>;

export const HideCredentials = Type.Optional(Type.Boolean({ description: 'Remove what the method used (header, Authorization, signature headers) before the upstream (default true).' }));

/** Identity headers the upstream may trust: a client's own copies are always removed. */
export const IDENTITY_HEADERS = ['x-consumer-id', 'x-consumer-team', 'x-credential-id'] as const;

/** Why a consumer without an approved subscription is refused. */
export const REFUSALS: Record<Exclude<SubscriptionState, 'approved'>, { code: ErrorCode; detail: string }> = {
  none: { code: 'WEIR_NOT_SUBSCRIBED', detail: 'this application has no subscription to the API: subscribe first' },
  pending: { code: 'WEIR_SUBSCRIPTION_PENDING', detail: 'the subscription waits for the API team\'s approval' },
  rejected: { code: 'WEIR_SUBSCRIPTION_REJECTED', detail: 'the API team rejected the subscription' },
  revoked: { code: 'WEIR_SUBSCRIPTION_REVOKED', detail: 'the subscription was revoked' },
};

export interface Identity {
  consumer: string;
  team: string;
  credential: string;
  subscription: SubscriptionState;
}

/**
 * A credential's check: the identity it proves and the headers it used, or why not — with the
 * method's own challenge when it has a more precise one (`Bearer error="invalid_token"`).
 */
export type Verdict =
  | { ok: true; identity: Identity; used: readonly string[] }
  | { ok: false; code: ErrorCode; detail: string; challenge?: readonly string[] };

/** One credential method of the auth plugin. */
export interface Method {
  /** Its `WWW-Authenticate` challenges (one per scheme). */
  readonly challenge: readonly string[];
  /** What a client must send, for the 401's detail ("an API key in x-api-key …"). */
  readonly asks: string;
  readonly hideCredentials: boolean;
  verify(ctx: RequestContext): Verdict | Promise<Verdict>;
}

export const live = (entry: EntryT, now = Date.now()): boolean => entry.expiresAt === null || entry.expiresAt > now;

export const invalid = (code: ErrorCode, detail: string, challenge?: readonly string[]): Verdict => (challenge === undefined ? { ok: false, code, detail } : { ok: false, code, detail, challenge });
