package domain

import (
	"encoding/json"
	"time"
)

// CatalogHost is one host of the dynamic catalog (ops_catalog_hosts): the
// hosts.json entry as the file would hold it, never with a secret, and who
// added it when.
type CatalogHost struct {
	// Name is the host's catalog name as given; the store keys it lower-cased.
	Name      string
	Entry     json.RawMessage
	CreatedAt time.Time
	CreatedBy string
}
