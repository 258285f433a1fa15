// The ULM app: built to dist/ for nginx (SPA fallback); in development /api goes to ULM.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: { '/api': process.env['ULM_URL'] ?? 'http://127.0.0.1:8001' },
  },
});
