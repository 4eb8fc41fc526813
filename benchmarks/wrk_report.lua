-- wrk script for benchmarks/run.py.
--
-- The credential header comes from the environment rather than wrk's command
-- line, so a key never shows in the process list. After the run, one line of
-- JSON carries the numbers run.py reads, exact: latencies are wrk's histogram
-- values in microseconds, not its rounded, unit-suffixed summary.
local header_name = os.getenv("BENCH_HEADER_NAME")
if header_name and header_name ~= "" then
  wrk.headers[header_name] = os.getenv("BENCH_HEADER_VALUE")
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"timeouts": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    errors.connect, errors.read, errors.write, errors.timeout, errors.status))
end
