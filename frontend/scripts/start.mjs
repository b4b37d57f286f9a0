// npm start: `next start` on TERMINUS_UI_LISTEN (host:port, default 127.0.0.1:3000), telemetry
// off. Stops with its child on SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const listen = process.env.TERMINUS_UI_LISTEN || '127.0.0.1:3000';
const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(listen);
if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
  console.error(`terminus-ui: TERMINUS_UI_LISTEN must be host:port, got "${listen}"`);
  process.exit(2);
}
const host = m[1].replace(/^\[|\]$/g, '');
const next = createRequire(import.meta.url).resolve('next/dist/bin/next');
const child = spawn(process.execPath, [next, 'start', '-H', host, '-p', m[2]], {
  stdio: 'inherit',
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
