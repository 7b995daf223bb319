// Loaded before the API reference (Scalar). Its bundled Zod probes once for eval (`Function('')`) to compile faster validators;
// the page's Content-Security-Policy forbids eval, so the probe would be reported as a violation. Zod reads this setting instead.
globalThis.__zod_globalConfig = Object.assign(globalThis.__zod_globalConfig || {}, { jitless: true });
