// The ULM app: built to dist/ for nginx (SPA fallback); in development /api goes to ULM.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { build, manifestOutsideDist } from '../scripts/vite-common';

export default defineConfig({
  plugins: [react(), manifestOutsideDist()],
  build,
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: { '/api': process.env['ULM_URL'] ?? 'http://127.0.0.1:8001' },
  },
});
