package secrets

import "encoding/base64"

func b64url(b []byte, pad bool) string {
	if pad {
		return base64.URLEncoding.EncodeToString(b)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func b64std(b []byte, pad bool) string {
	if pad {
		return base64.StdEncoding.EncodeToString(b)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}
