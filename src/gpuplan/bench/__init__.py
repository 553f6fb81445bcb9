"""``gpuplan bench``: an async load client for OpenAI-compatible endpoints (streaming SSE).

Modules: ``models`` (result objects), ``stats`` (percentiles, summaries), ``workload`` (prompts and datasets),
``client`` (one streamed request, timed and classified), ``runner`` (concurrency sweeps, Poisson arrivals, results
written as they arrive), ``prediction`` (a plan's predicted numbers), ``fakeserver`` (a real HTTP/SSE server with
known delays and injectable faults, for tests and the accuracy benchmark).
"""
