import type { Metadata, Viewport } from 'next';
import Link from 'next/link';
import './globals.css';

export const metadata: Metadata = {
  title: 'Terminus demo',
  description: 'Watch a commerce backend keep its promises: idempotent checkout, outbox, flags, faults.',
};
export const viewport: Viewport = { width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="top">
          <Link href="/" className="brand">
            <span className="brand-mark">T</span> Terminus
          </Link>
          <nav aria-label="Main" className="top-nav">
            <Link href="/">Stores</Link>
            <Link href="/ops">Operations</Link>
          </nav>
        </header>
        <main className="page">{children}</main>
        <footer className="foot">
          Demo UI over the public Terminus HTTP API · admin calls are signed by this UI&apos;s server, never
          by your browser
        </footer>
      </body>
    </html>
  );
}
