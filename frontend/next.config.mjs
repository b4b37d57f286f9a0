// The demo UI is a plain Next.js server: no images, fonts or scripts from anywhere else; telemetry
// is off (scripts/start.mjs and the Makefile also set NEXT_TELEMETRY_DISABLED=1).
/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Type errors fail the build (tsc, strict); the project has no ESLint setup of its own.
  eslint: { ignoreDuringBuilds: true },
  images: { unoptimized: true },
  // The UI acts as the operator: no other site may frame it and have a user click its buttons.
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'X-Frame-Options', value: 'DENY' },
          { key: 'Content-Security-Policy', value: "frame-ancestors 'none'" },
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          { key: 'Referrer-Policy', value: 'same-origin' },
        ],
      },
    ];
  },
};

export default nextConfig;
