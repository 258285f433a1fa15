/** Reads an e-mailed link's token once and takes it out of the address bar. */
import { useEffect, useState } from 'react';
import { linkToken, withoutLinkToken } from './logic';

export function useLinkToken(): string | null {
  // Read once, at mount: the address is cleaned right after, and the token must survive it.
  const [token] = useState(() => linkToken(window.location.hash, window.location.search));
  useEffect(() => {
    const { pathname, search, hash } = window.location;
    const clean = withoutLinkToken(pathname, search);
    if (clean !== pathname + search || hash) {
      // Out of the address bar, the history and anything copied from them. The router's own
      // history entry state is kept, so back/forward still work.
      window.history.replaceState(window.history.state, '', clean);
    }
  }, []);
  return token;
}
