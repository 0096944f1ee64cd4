/**
 * src/cli: the `strata` command (serve, bench, sim). It may import anything; nothing imports it.
 * Invariant: every flag and environment variable is validated here, with one-line errors, before
 * any other part of strata sees it.
 */
export { main, bootConfigOf } from './main.js';
export { ConfigError, flagHelp, parseServerConfig } from './config.js';
export type { ServerConfig } from './config.js';
export { clusterIdOf, memberIdOf } from '../runtime/node/index.js';
