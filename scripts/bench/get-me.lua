-- wrk: the authenticated read-only call the metered one is compared with.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GENSAAS_API_KEY")
