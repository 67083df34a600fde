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
