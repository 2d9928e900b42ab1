/**
 * `switchboard/server`: a whole server (registrar, proxy, redirect, gateway roles) from one
 * configuration object, the same one a YAML file gives `switchboard serve` (docs/configuration.md).
 * @packageDocumentation
 */
export { createServer, startServer, type RunningServer, type StartOptions } from './app/server.js';
export type { ProxyHooks, ProxyTarget, TargetDecision } from './tu/index.js';
export { type Config, type ConfigInput, ConfigError, validateConfig } from './app/config/config-schema.js';
