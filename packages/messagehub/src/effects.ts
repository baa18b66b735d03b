import type { HubError } from './errors.js';
import type { ListenerSlot } from './listener.js';
import type { Session } from './session.js';

// Effects: what a batch lets happen once the store has committed it, in order. Flat slots
// kind, a, b, c, d, so staging an event allocates nothing but the event.
export const FX_EVENT = 0; // a: event, b: recipient sessions, c: listeners, d: JSON text | undefined
export const FX_ONE = 1; // a: Session, b: what it is handed
export const FX_COMPLETE = 2; // a: Session
export const FX_ACK = 3; // a: Deferred<number>, b: event id
export const FX_QUERY = 4; // a: () => R, b: resolve, c: reject
export const FX_JOINED = 5; // a: (position) => void, b: JoinPosition
export const FX_DETACH = 6; // a: ListenerSlot, b: resolve
export const FX_CLOSE = 7; // a: sessions, b: listeners
export const FX_FAIL = 8; // a: Session, b: error
export const FX_STRIDE = 5;

/** A pending caller's two ends. */
export interface Deferred<R = void> {
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Effects that will not happen because the store failed: whoever waits for them gets `failure`.
 * Detached and closing listeners are finished; what they return is pushed on `detached`.
 */
export function failEffects(failure: HubError, fx: readonly unknown[], length: number, detached: Promise<void>[]): void {
  for (let i = 0; i < length; i += FX_STRIDE) {
    const kind = fx[i] as number;
    if (kind === FX_ACK) (fx[i + 1] as Deferred<unknown>).reject(failure);
    else if (kind === FX_QUERY) (fx[i + 3] as (error: unknown) => void)(failure);
    else if (kind === FX_ONE || kind === FX_COMPLETE || kind === FX_FAIL) (fx[i + 1] as Session<unknown>).fail(failure);
    else if (kind === FX_EVENT) for (const session of fx[i + 2] as Session<unknown>[]) session.fail(failure);
    else if (kind === FX_DETACH) detached.push((fx[i + 1] as ListenerSlot<unknown>).finish().then(fx[i + 2] as () => void));
    else if (kind === FX_CLOSE) {
      for (const session of fx[i + 1] as Session<unknown>[]) session.fail(failure);
      for (const slot of fx[i + 2] as ListenerSlot<unknown>[]) detached.push(slot.finish());
    }
  }
}
