// The AAM admin panel: built to dist/ for nginx (SPA fallback). In development, sign-in
// calls go to ULM and everything else under /api to AAM, as nginx does in production.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const ulm = process.env['ULM_URL'] ?? 'http://127.0.0.1:8001';
const aam = process.env['AAM_URL'] ?? 'http://127.0.0.1:8002';

export default defineConfig({
  plugins: [react()],
  // terser, not esbuild: about 3 KB less gzip per app, which keeps the panel's three
  // languages within the 150 KB budget (scripts/size.mjs); it costs build time only.
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, minify: 'terser', terserOptions: { compress: { passes: 2 } } },
  server: {
    host: '127.0.0.1',
    port: 5174,
    // Order matters: the first matching prefix wins.
    proxy: { '/api/v1/auth': ulm, '/api': aam },
  },
});
