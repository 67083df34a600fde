-- The gateway backend's reservations table, as the worker reads it.
-- The backend owns this table in production: this file only creates it where
-- it does not exist (development, tests) and never alters it.
CREATE TABLE IF NOT EXISTS lab_reservations (
  id BIGINT NOT NULL AUTO_INCREMENT,
  transaction_hash VARCHAR(66) NOT NULL,
  user_id BIGINT NULL,
  wallet_address VARCHAR(42) NULL,
  lab_id VARCHAR(128) NULL,
  start_time TIMESTAMP NULL DEFAULT NULL,
  end_time TIMESTAMP NULL DEFAULT NULL,
  block_number BIGINT NULL,
  contract_address VARCHAR(42) NULL,
  status ENUM('PENDING','CONFIRMED','ACTIVE','COMPLETED','CANCELLED') NOT NULL DEFAULT 'PENDING',
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_lab_reservations_tx (transaction_hash),
  KEY idx_lab_reservations_status_time (status, start_time, end_time)
);
