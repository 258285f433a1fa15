import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  test: {
    environment: 'jsdom',
    include: ['shared/src/**/*.test.{ts,tsx}', 'ulm/src/**/*.test.{ts,tsx}', 'aam/src/**/*.test.{ts,tsx}'],
    setupFiles: ['shared/src/test-setup.ts'],
  },
});
