package legacyimport

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ops-worker/ops-worker/internal/boundedfile"
	"github.com/ops-worker/ops-worker/internal/fernet"
)

// maxKeyFile bounds what is read of OPS_SECRETS_KEY_FILE (a key is 44 bytes).
const maxKeyFile = 4096

// SourcesFromEnv reads the older worker's variables: OPS_CREDENTIALS_PATH,
// OPS_POWER_CREDENTIALS_PATH, OPS_DYNAMIC_CONFIG and OPS_POWER_CONFIG name
// the files (an unset one is not imported: the older worker's /app/data
// defaults belong to its container, not to this one), and when a credential
// file is named, the key comes from KeyFromEnv (the other two files hold no
// secret and need none).
func SourcesFromEnv(getenv func(string) string) (Sources, error) {
	src := Sources{
		WinRMPath:        strings.TrimSpace(getenv("OPS_CREDENTIALS_PATH")),
		PowerPath:        strings.TrimSpace(getenv("OPS_POWER_CREDENTIALS_PATH")),
		DynamicHostsPath: strings.TrimSpace(getenv("OPS_DYNAMIC_CONFIG")),
		PowerCatalogPath: strings.TrimSpace(getenv("OPS_POWER_CONFIG")),
	}
	if src.WinRMPath == "" && src.PowerPath == "" {
		return src, nil
	}
	key, err := KeyFromEnv(getenv)
	if err != nil {
		return Sources{}, err
	}
	src.Key = key
	return src, nil
}

// KeyFromEnv returns the Fernet key the older worker read
// (_env_or_secret_file): OPS_SECRETS_KEY, else the contents of the file
// OPS_SECRETS_KEY_FILE names. No error quotes the key.
func KeyFromEnv(getenv func(string) string) ([]byte, error) {
	text, from := strings.TrimSpace(getenv("OPS_SECRETS_KEY")), "OPS_SECRETS_KEY"
	if text == "" {
		path := strings.TrimSpace(getenv("OPS_SECRETS_KEY_FILE"))
		if path == "" {
			return nil, errors.New("OPS_SECRETS_KEY (or OPS_SECRETS_KEY_FILE) is required to read the older worker's credential files")
		}
		b, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("OPS_SECRETS_KEY_FILE: %w", err)
		}
		text, from = string(b), "the file OPS_SECRETS_KEY_FILE names"
	}
	key, err := fernet.ParseKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s is not a Fernet key (the URL-safe base64 of 32 bytes, as Fernet.generate_key prints it)", from)
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := boundedfile.Read(path, maxKeyFile)
	var tooLarge *boundedfile.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key file", path, maxKeyFile)
	}
	return b, err
}
