// The ULM app: built to dist/ for nginx (SPA fallback); in development /api goes to ULM.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  // terser, not esbuild: about 3 KB less gzip per app, which keeps the panel's three
  // languages within the 150 KB budget (scripts/size.mjs); it costs build time only.
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, minify: 'terser', terserOptions: { compress: { passes: 2 } } },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: { '/api': process.env['ULM_URL'] ?? 'http://127.0.0.1:8001' },
  },
});
