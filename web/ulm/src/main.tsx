/** Boots the ULM app: preferences first (no flash of the wrong direction or theme), then React. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { I18nextProvider } from 'react-i18next';
import { ApiClient, ApiContext, ApiError, Session, applyTheme, createI18n, storedTheme } from '@ovu/shared';
import '@ovu/shared/styles.css';
import { App } from './App';
import { locales } from './locales';

applyTheme(storedTheme());
// The first render waits for the chosen language's chunk (English needs none), so no key or
// wrong direction ever shows; a chunk that cannot be fetched leaves the page in English.
const i18n = await createI18n(locales);
const session = new Session();
const ulm = new ApiClient({
  baseUrl: '',
  session,
  refreshUrl: '/api/v1/auth/refresh',
  language: () => i18n.language,
});
const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change by asking again; network and 5xx get one more try.
      retry: (n, e) => n < 1 && !(e instanceof ApiError && e.status >= 400 && e.status < 500),
      refetchOnWindowFocus: false,
      staleTime: 15_000,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nextProvider i18n={i18n}>
      <ApiContext.Provider value={{ session, ulm, app: ulm }}>
        <QueryClientProvider client={queryClient}>
          <App />
        </QueryClientProvider>
      </ApiContext.Provider>
    </I18nextProvider>
  </StrictMode>,
);
