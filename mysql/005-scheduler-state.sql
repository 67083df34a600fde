-- Back-off of the heartbeat tick, by catalog host name (lower case): a
-- station that keeps failing is polled less often (a locked-out Windows
-- account is worse than a missed poll). Kept here, not in memory, because
-- every tick may run in another instance (Lambda, several local servers).
-- No row, or failures = 0: polled every tick.
CREATE TABLE IF NOT EXISTS lab_host_poll_state (
  host_name VARCHAR(255) NOT NULL,
  failures INT NOT NULL DEFAULT 0,
  next_poll_at DATETIME(3) NULL,
  last_error TEXT NULL,
  last_failure_at DATETIME(3) NULL,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (host_name)
);

-- Idempotency keys of reservation_operations: a record whose connection
-- died after the commit but before the answer is written again with the
-- same key, and the key makes that second write a no-op (no duplicate
-- scheduler:start/end or step record after a database fault).
CREATE TABLE IF NOT EXISTS reservation_operation_keys (
  op_key CHAR(32) NOT NULL,
  operation_id BIGINT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (op_key)
);
