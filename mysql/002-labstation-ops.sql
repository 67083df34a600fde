-- Lab Station operations tables (the older worker's schema, column for column).
CREATE TABLE IF NOT EXISTS lab_hosts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  address VARCHAR(255) NULL,
  mac VARCHAR(32) NULL,
  mode ENUM('pure','hybrid') NULL,
  last_seen DATETIME(3) NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_lab_hosts_name (name)
);

CREATE TABLE IF NOT EXISTS lab_host_heartbeat (
  id BIGINT NOT NULL AUTO_INCREMENT,
  host_id BIGINT NOT NULL,
  timestamp_utc DATETIME(3) NULL,
  ready BOOL NULL,
  local_mode BOOL NULL,
  local_session BOOL NULL,
  last_forced_logoff_ts DATETIME(3) NULL,
  last_forced_logoff_user VARCHAR(255) NULL,
  last_power_action_ts DATETIME(3) NULL,
  last_power_action_mode VARCHAR(32) NULL,
  raw_json LONGTEXT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_heartbeat_host_ts (host_id, timestamp_utc),
  CONSTRAINT fk_heartbeat_host FOREIGN KEY (host_id) REFERENCES lab_hosts (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS lab_host_events (
  id BIGINT NOT NULL AUTO_INCREMENT,
  host_id BIGINT NOT NULL,
  kind VARCHAR(64) NOT NULL,
  timestamp_utc DATETIME(3) NULL,
  payload JSON NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_events_host_kind_ts (host_id, kind, timestamp_utc),
  CONSTRAINT fk_events_host FOREIGN KEY (host_id) REFERENCES lab_hosts (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS reservation_operations (
  id BIGINT NOT NULL AUTO_INCREMENT,
  reservation_id VARCHAR(128) NOT NULL,
  lab_id VARCHAR(128) NULL,
  host VARCHAR(255) NULL,
  action VARCHAR(32) NOT NULL,
  status VARCHAR(32) NOT NULL,
  success BOOL NOT NULL DEFAULT FALSE,
  response_code INT NULL,
  duration_ms INT NULL,
  payload JSON NULL,
  message TEXT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_resops_reservation_action (reservation_id, action)
);
