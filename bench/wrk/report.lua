-- Appended to every wrk script the bench program runs: one machine-readable
-- line at the end, so nothing depends on the layout of wrk's own summary.
-- Latencies are in microseconds, as wrk records them.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "bench-result requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.status, e.connect, e.read, e.write, e.timeout))
end
