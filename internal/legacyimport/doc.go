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
// OPS_POWER_CONFIG, the power catalog (power/registry.py,
// PowerRegistry.from_config; power/service.py, PowerRuntime.from_config and
// LabPowerPolicy.from_mapping in power/models.py), plain JSON with no
// secret:
//
//	{"controllers": [{"id", "name", "driver", "enabled", "host", "port", "credentialRef",
//	                  "config": {..., "outlets": ["1", {"outlet" or "id", "displayName", ...}]}}],
//	 "outlets":     [{"controllerId" or "controller_id", "outlet" or "outletKey",
//	                  "displayName", "logicalName", "protected", "critical", "defaultState"}],
//	 "policies":    [{"id", "labId", "policyName", "enabled", "respectLocalMode",
//	                  "maintenanceMode", "startFailureMode", "endFailureMode", "steps": [...]}]}
//
// read as the older worker read it: a controller's outlets are the
// top-level ones naming it, in order, then those of its config.outlets they
// do not name (a top-level entry gives a configured outlet its names and
// flags); "enabled" and "respectLocalMode" default to true, "defaultState"
// to off, a name to the id; booleans given as "false", "no", "off" or "0"
// and integers given as text are read as the older worker read them; the
// snake_case spellings of policy and step fields are accepted. A policy's
// "id" and a step's "conditions" are dropped (ops-worker keys a policy by
// its lab; the older worker's executor never read conditions). Then each
// controller and policy is validated by the catalog's own rules
// (power.ParseController, power.DecodePolicy): an unknown field, an unknown
// driver, an invalid id or outlet key, and a secret-looking field in config
// (credentials belong in the credential store, under credentialRef) are
// refused, the field named and its value never shown. Stricter than the
// older worker: a controller id or lab id given twice ignoring case (the
// database compares them so), an outlet key given twice in one list, a
// top-level outlet naming no controller of the file, and a policy step
// naming an outlet its controller of the file lacks are refused. A step
// may name a controller the file does not define: Import checks every new
// policy against the catalog it will join (the database's controllers and
// the file's new ones) before it stores anything.
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
// the expected shape, a controller or policy the catalog refuses), no
// record and an error naming the file and each reference, controller or
// lab at fault. Import reads and checks all the files before it stores
// anything, so a problem anywhere stores nothing. A second run stores
// nothing new: credentials are stored again, hosts, controllers and
// policies already in the catalog are left alone (even when the file's
// differ: the catalog's may have been edited since).
//
// A wrong key and an altered token look the same to Fernet (the signature
// does not verify); the errors tell them apart by the file: when no token
// of it decrypts the key is wrong, when others do that token was damaged.
//
// Decrypted values are held as Secret, which prints as "[redacted]" in
// every format; no error, log line or line of output carries one.
package legacyimport
