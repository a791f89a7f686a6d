// The page is built from web/ into dist/web, beside the compiled service (dist/src), which serves it at /.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: { outDir: '../dist/web', emptyOutDir: true, assetsDir: 'assets', target: 'es2022' },
});
