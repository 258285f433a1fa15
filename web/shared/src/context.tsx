/** React access to the API clients and the in-memory session. */
import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ApiClient } from './api/client';
import type { AccessClaims, Session } from './api/session';

export interface Apis {
  session: Session;
  /** ULM's API (sign-in, account). */
  ulm: ApiClient;
  /** The app's own API when it is not ULM (AAM). */
  app: ApiClient;
}

export const ApiContext = createContext<Apis | null>(null);

export function useApis(): Apis {
  const v = useContext(ApiContext);
  if (!v) throw new Error('ApiContext missing');
  return v;
}

/** Re-renders when the person signs in or out; the claims of the current access token. */
export function useClaims(): AccessClaims | null {
  const { session } = useApis();
  const token = useSyncExternalStore(
    (cb) => session.subscribe(cb),
    () => session.refreshToken,
  );
  return token ? session.claims : null;
}
