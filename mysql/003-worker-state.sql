-- State of the worker itself that must outlive one function instance.

-- Quarantine flags, by catalog host name (lower case), so that every
-- instance and every restart sees the same flag.
CREATE TABLE IF NOT EXISTS lab_host_quarantine (
  host_name VARCHAR(255) NOT NULL,
  quarantined BOOL NOT NULL,
  reason VARCHAR(255) NULL,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (host_name)
);

-- One row per (reservation, phase): a scanner owns the phase while
-- claimed_at is within the retry cooldown, whether its dispatch finished
-- or not; after that the row may be claimed again.
CREATE TABLE IF NOT EXISTS reservation_claims (
  reservation_id VARCHAR(128) NOT NULL,
  phase VARCHAR(8) NOT NULL,
  claimed_by CHAR(32) NOT NULL,
  claimed_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  PRIMARY KEY (reservation_id, phase)
);
