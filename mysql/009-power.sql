-- Power control of lab equipment (issue 18). The catalog: controllers
-- (one JSON body each, with their outlets, never a secret: SNMP
-- communities, v3 keys and NETIO passwords live in ops_credentials, named
-- by the body's credentialRef) and one policy per lab. Shared by every
-- instance; validated by internal/power before it is written.
CREATE TABLE IF NOT EXISTS power_controllers (
  id VARCHAR(128) NOT NULL,
  body TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  created_by VARCHAR(128) NOT NULL DEFAULT '',
  updated_at DATETIME(6) NOT NULL,
  updated_by VARCHAR(128) NOT NULL DEFAULT '',
  PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS power_policies (
  lab_id VARCHAR(128) NOT NULL,
  body TEXT NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  updated_by VARCHAR(128) NOT NULL DEFAULT '',
  PRIMARY KEY (lab_id)
);

-- Every executed power step, as the older worker's
-- mysql/003-energy-policies.sql: the row is written first (status
-- 'running') under its idempotency key, so a step retried by another tick
-- or instance finds it and switches nothing a second time.
CREATE TABLE IF NOT EXISTS power_operations (
  id BIGINT NOT NULL AUTO_INCREMENT,
  reservation_id VARCHAR(128),
  lab_id VARCHAR(128),
  policy_id VARCHAR(128),
  step_id VARCHAR(128),
  phase VARCHAR(32),
  controller_id VARCHAR(128) NOT NULL,
  outlet_key VARCHAR(64) NOT NULL,
  action VARCHAR(32) NOT NULL,
  requested_state VARCHAR(32),
  observed_state_before VARCHAR(32),
  observed_state_after VARCHAR(32),
  status VARCHAR(32) NOT NULL,
  success BOOLEAN NOT NULL DEFAULT FALSE,
  response_code INT,
  duration_ms INT,
  idempotency_key VARCHAR(255) NOT NULL,
  payload JSON,
  message TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_power_idempotency (idempotency_key),
  KEY idx_power_reservation (reservation_id, phase),
  KEY idx_power_lab_time (lab_id, created_at)
);
