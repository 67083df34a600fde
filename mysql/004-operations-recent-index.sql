-- GET /api/operations/recent lists newest first across reservations.
CREATE INDEX IF NOT EXISTS idx_resops_created ON reservation_operations (created_at, id);
