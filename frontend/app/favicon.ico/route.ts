// Browsers may ask for /favicon.ico whatever the page's <link rel="icon"> says (a navigation cut
// short, say); answer with the same icon rather than a 404 in the console.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const dynamic = 'force-static';

export async function GET() {
  const svg = await readFile(path.join(process.cwd(), 'app', 'icon.svg'));
  return new Response(svg, { headers: { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' } });
}
