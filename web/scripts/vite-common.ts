// Build settings both apps share: terser, one chunk per language, and Vite's manifest kept
// out of dist/ (scripts/size.mjs reads it; nginx serves everything in dist/).
import fs from 'node:fs';
import path from 'node:path';
import type { BuildOptions, Plugin } from 'vite';

/** Where an app's build manifest lands: beside dist/, never shipped. */
export const MANIFEST = 'build-manifest.json';

// The shared strings of a language and the app's are fetched together, so they travel as one
// chunk (one request per language); English is in the entry chunk (shared/src/i18n/index.ts).
const LANGUAGE_MODULE = /\/(?:shared\/src\/i18n|src\/locales)\/(he|ar)\.ts$/;

export const build: BuildOptions = {
  outDir: 'dist',
  emptyOutDir: true,
  target: 'es2022',
  sourcemap: false,
  // terser, not esbuild: about 3 KB less gzip per app; it costs build time only.
  minify: 'terser',
  terserOptions: { compress: { passes: 2 } },
  manifest: true,
  rollupOptions: {
    output: {
      manualChunks(id) {
        const m = LANGUAGE_MODULE.exec(id.split(path.sep).join('/'));
        return m ? `lang-${m[1]}` : undefined;
      },
    },
  },
};

/**
 * Moves Vite's manifest (dist/.vite/manifest.json) to <app>/build-manifest.json once the
 * bundle is written: it names every source file, and whatever is in dist/ goes into the web
 * image and is served.
 */
export function manifestOutsideDist(): Plugin {
  let root = '';
  let outDir = '';
  return {
    name: 'ovu-manifest-outside-dist',
    apply: 'build',
    configResolved(c) {
      root = c.root;
      outDir = path.resolve(c.root, c.build.outDir);
    },
    writeBundle() {
      const from = path.join(outDir, '.vite', 'manifest.json');
      fs.renameSync(from, path.join(root, MANIFEST));
      fs.rmSync(path.join(outDir, '.vite'), { recursive: true, force: true });
    },
  };
}
