// Package legacyimport reads the files the older Python worker kept on its
// container's disk, so `ops-worker import-credentials` can move them into
// the MySQL credential store and the dynamic catalog (issue 17, "Moving
// from the older worker").
//
// # The files
//
// OPS_CREDENTIALS_PATH, WinRM credentials (worker.py,
// save_winrm_credentials and load_winrm_credentials):
//
//	{"credentials": {"<ref>": {"token": "<Fernet token>"}}}
//
// each token the Fernet encryption, under OPS_SECRETS_KEY, of
// {"user": "...", "password": "..."}. A reference is what
// normalize_credential_ref made it: trimmed and lower case (a host's
// credential_ref, else its address).
//
// OPS_POWER_CREDENTIALS_PATH, power-control credentials (power/credentials.py,
// PowerCredentialStore.put):
//
//	{"credentials": {"<ref>": {"type": "snmpv1|snmpv2c|snmpv3|netio-http-basic", "token": "<Fernet token>"}}}
//
// each token sealing the JSON object validate_power_credential returned for
// the type: {"version", "community"} for SNMP v1 and v2c; for SNMPv3
// "version" "v3", "username", "authProtocol", "privProtocol" and, when those
// are not NONE, "authPassword" and "privPassword", optionally
// "contextName"; {"username", "password"} for NETIO. References follow
// _REFERENCE_RE: 1 to 128 of a-z 0-9 . _ : -, a letter or digit first. The
// same rule (hosts.CredentialRef) is applied to WinRM references here.
//
// OPS_DYNAMIC_CONFIG, hosts provisioned from the page (worker.py,
// build_provisioned_host and upsert_dynamic_host), plain JSON with no secret:
//
//	{"hosts": [{"name": "...", "address": "...", "credential_ref": "...", ...}]}
//
// each entry a hosts.json entry; names follow HOST_NAME_RE and are unique
// ignoring case (upsert_dynamic_host replaced by lower-cased name).
//
// The Fernet key is the URL-safe base64 text Fernet.generate_key printed,
// from OPS_SECRETS_KEY or the file OPS_SECRETS_KEY_FILE names; the tokens
// carry no expiry, so no age is checked (package fernet). SourcesFromEnv
// and KeyFromEnv read these variables as the older worker did.
//
// # All or nothing
//
// Each Read function returns every record of its file or, when anything in
// it is wrong (the file missing, over MaxFileSize or not JSON, a reference
// invalid or given twice, a token that does not decrypt, a payload not of
// the expected shape), no record and an error naming the file and each
// reference at fault. Import reads and checks all the files before it
// stores anything, so a problem anywhere stores nothing.
//
// A wrong key and an altered token look the same to Fernet (the signature
// does not verify); the errors tell them apart by the file: when no token
// of it decrypts the key is wrong, when others do that token was damaged.
//
// Decrypted values are held as Secret, which prints as "[redacted]" in
// every format; no error, log line or line of output carries one.
package legacyimport
