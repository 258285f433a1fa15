// The AAM admin panel: built to dist/ for nginx (SPA fallback). In development, sign-in
// calls go to ULM and everything else under /api to AAM, as nginx does in production.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { build, manifestOutsideDist } from '../scripts/vite-common';

const ulm = process.env['ULM_URL'] ?? 'http://127.0.0.1:8001';
const aam = process.env['AAM_URL'] ?? 'http://127.0.0.1:8002';

export default defineConfig({
  plugins: [react(), manifestOutsideDist()],
  build,
  server: {
    host: '127.0.0.1',
    port: 5174,
    // Order matters: the first matching prefix wins.
    proxy: { '/api/v1/auth': ulm, '/api': aam },
  },
});
