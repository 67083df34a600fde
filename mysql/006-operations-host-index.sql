-- GET /api/operations/recent?host= lists one host's operations newest
-- first (issue 16): (host, created_at, id) serves the filter and the order.
CREATE INDEX IF NOT EXISTS idx_resops_host_created ON reservation_operations (host, created_at, id);
