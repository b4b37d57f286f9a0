// Node.js 18 (Debian 12's) has Web Crypto only as node:crypto's webcrypto, not as a global as
// browsers and newer Node.js do.
import { webcrypto } from 'node:crypto';

if (!globalThis.crypto) Object.defineProperty(globalThis, 'crypto', { value: webcrypto });
