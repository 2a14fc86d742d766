/** The page's files: which routes serve which file, with what type, and the page's security headers. */

export interface StaticFile {
  file: () => string;
  type: string;
  html?: boolean;
}

export const STATIC: Record<string, StaticFile> = {
  '/': { file: () => 'index.html', type: 'text/html; charset=utf-8', html: true },
  '/index.html': { file: () => 'index.html', type: 'text/html; charset=utf-8', html: true },
  '/style.css': { file: () => 'style.css', type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** The page's ES modules (dashboard/*.js). */
export const PAGE_MODULES = ['app.js', 'connection.js', 'store.js', 'charts.js', 'decimate.js', 'panels.js', 'format.js'];
for (const name of PAGE_MODULES) STATIC[`/${name}`] = { file: () => name, type: 'text/javascript; charset=utf-8' };

