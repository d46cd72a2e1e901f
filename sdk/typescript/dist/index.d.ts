export * from './errors.js';
export * from './vault.js';
