-- The dynamic part of the host catalog (issue 17): Lab Stations added at
-- run time (POST /api/hosts, hosts.Registry.Add), merged with hosts.json by
-- every instance. name is the lower-cased catalog name (names compare
-- case-insensitively), display_name the name as given. entry is the
-- hosts.json entry as the file would hold it, as JSON text; it never holds
-- a secret (winrm_user/winrm_pass and env: references are refused, the
-- credentials live in the credential store).
CREATE TABLE IF NOT EXISTS ops_catalog_hosts (
  name VARCHAR(128) NOT NULL,
  display_name VARCHAR(128) NOT NULL,
  entry TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  created_by VARCHAR(128) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (name)
);
