/**
 * HTTP + WebSocket endpoints of an event hub: a standalone server
 * (hub.listen) or routes mounted on an existing http.Server (hub.attach).
 *
 * Routes, under the base path ('' for listen, '/dashboard' by default for attach):
 *   GET /            the page (dashboard/index.html), its modules (app.js, ...), style.css
 *   GET /vendor/...  uPlot (from node_modules/uplot)
 *   GET /healthz     200 "ok" (no token: for liveness probes)
 *   GET /metrics     Prometheus text (token required unless metricsAuth: false)
 *   GET /api/session JSON facts about the hub (token required)
 *   WS  /ws          the event stream (token required)
 *
 * The token is checked before the WebSocket upgrade completes (query
 * ?token= or Authorization: Bearer); a missing or wrong one gets HTTP 401 on
 * the raw socket, which is then closed. A browser Origin must match the Host
 * (or be listed in allowedOrigins); requests without an Origin (non-browser
 * clients) are allowed. Frames are limited to maxPayload bytes (close 1009).
 *
 * Rooms: options.ts (checked options), static-files.ts (the page), endpoint.ts
 * (routes, auth, WebSocket connections), listen.ts (listen / attach),
 * hub-contract.ts (the narrow view of the hub it serves).
 */
export { listenHub, attachHub } from './listen';
export { generateToken, type EndpointOptions, type ListenOptions, type AttachOptions, type DashboardServer, type DashboardAttachment } from './options';
export type { HubForServer } from './hub-contract';
