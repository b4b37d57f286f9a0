// vitest runs outside React's server graph; the real package throws there on purpose.
export {};
