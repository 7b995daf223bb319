-- wrk: the metered call. Every request is a new generation (no Idempotency-Key), paid from prepaid credits.
wrk.method = "POST"
wrk.body = '{"prompt":"benchmark: a lighthouse at dusk"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GENSAAS_API_KEY")
