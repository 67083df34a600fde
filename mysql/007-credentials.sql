-- The credential store (issue 17): one row per credential reference and
-- kind ('winrm' for a station's WinRM account, 'power' for a power
-- controller's), shared by every instance. sealed is the AES-256-GCM
-- sealing (nonce first) of the secret's JSON under the key key_id names,
-- so rows can be re-sealed under a new key while the worker runs; the
-- other columns are metadata, readable without the key.
CREATE TABLE IF NOT EXISTS ops_credentials (
  kind VARCHAR(16) NOT NULL,
  credential_ref VARCHAR(128) NOT NULL,
  type VARCHAR(32) NOT NULL,
  key_id VARCHAR(32) NOT NULL,
  sealed VARBINARY(8192) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  updated_by VARCHAR(128) NOT NULL DEFAULT '',
  PRIMARY KEY (kind, credential_ref)
);

-- Re-sealing looks for the rows not under the current key.
CREATE INDEX IF NOT EXISTS idx_ops_credentials_key ON ops_credentials (key_id);
