// Package credentials is the credential store the use cases see: WinRM
// accounts and power-controller credentials saved by reference, sealed
// with the worker's keyring (internal/secrets) in the shared database, so
// every instance resolves the same credentials without a restart. No
// answer, log line or error of this package holds a secret.
package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/secrets"
)

// Store is the database side (internal/store.Store; PutCredential answers
// domain.ErrCredentialExists for an existing row it may not overwrite).
type Store interface {
	PutCredential(ctx context.Context, rec domain.CredentialRecord, overwrite bool) (created bool, err error)
	GetCredential(ctx context.Context, kind, ref string) (*domain.CredentialRecord, error)
	ListCredentials(ctx context.Context, kind string) ([]domain.CredentialRecord, error)
	CredentialsNotUnder(ctx context.Context, keyID string, limit int) ([]domain.CredentialRecord, error)
	ResealCredential(ctx context.Context, kind, ref, oldKeyID string, oldSealed []byte, newKeyID string, newSealed []byte) (bool, error)
}

// The errors of the Service; each is wrapped with what it concerns, so
// test with errors.Is.
var (
	ErrNoKey      = errors.New("credential store has no key: set OPS_SECRETS_KEY (or OPS_SECRETS_KEY_FILE)")
	ErrNoDatabase = errors.New("credential store needs a database: set MYSQL_DSN")
	ErrInvalid    = errors.New("invalid credential")
	ErrExists     = errors.New("credential already exists")
	ErrNotFound   = errors.New("credential not found")
)

// The credential types (ops_credentials.type).
const (
	TypeWinRM          = "winrm"
	TypeSNMPv1         = "snmpv1"
	TypeSNMPv2c        = "snmpv2c"
	TypeSNMPv3         = "snmpv3"
	TypeNetioHTTPBasic = "netio-http-basic"
)

// Limits of the saved fields, as the older worker's.
const (
	maxName     = 256
	maxPassword = 512
	maxActor    = 128
	// resealBatch is how many rows one Reseal query reads.
	resealBatch = 100
)

// Options tune a Service. CacheTTL 0 reads the database on every use; Now
// nil is time.Now; Logger nil discards.
type Options struct {
	CacheTTL time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Service seals, stores and opens credentials. A nil Store answers
// ErrNoDatabase; a nil keyring refuses writes (ErrNoKey) and resolves no
// WinRM credential, so a worker without a key runs as before.
type Service struct {
	st   Store
	ring *secrets.Keyring
	opts Options

	mu    sync.Mutex
	cache map[string]cached // by kind + "\x00" + ref
}

type cached struct {
	user     string
	password secrets.Secret
	found    bool
	until    time.Time
}

// New builds a Service over st with ring (either may be nil, see Service).
func New(st Store, ring *secrets.Keyring, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, ring: ring, opts: opts, cache: map[string]cached{}}
}

// HasKey reports whether the Service can seal (a key is configured).
func (s *Service) HasKey() bool { return s != nil && s.ring != nil }

// Meta is what may be shown of a stored credential: never the secret.
type Meta struct {
	CredentialRef string    `json:"credentialRef"`
	Type          string    `json:"type"`
	KeyID         string    `json:"keyId"`
	UpdatedAt     time.Time `json:"updatedAt"`
	UpdatedBy     string    `json:"updatedBy"`
}

// ResealReport counts what Reseal did: Checked rows were not under the
// current key, Resealed now are, Skipped were rewritten meanwhile (a
// concurrent write wins), Failed could not be opened.
type ResealReport struct {
	Checked, Resealed, Skipped, Failed int
}

// aad binds a sealing to its row: a sealed value copied to another
// reference, kind or type does not open.
func aad(kind, ref, typ string) []byte {
	return []byte("ops-worker/credential/v1\x00" + kind + "\x00" + ref + "\x00" + typ)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// normalizeRef applies the catalog's credential_ref rule.
func normalizeRef(ref string) (string, error) {
	norm, err := hosts.NormalizeCredentialRef(ref)
	if err != nil {
		return "", invalid("credentialRef %v", err)
	}
	return norm, nil
}

func (s *Service) writable() error {
	if s.st == nil {
		return ErrNoDatabase
	}
	if s.ring == nil {
		return ErrNoKey
	}
	return nil
}

func cleanActor(actor string) string {
	actor = strings.TrimSpace(actor)
	if len(actor) > maxActor {
		// Cut on a byte count, then drop a rune the cut split: the column
		// refuses invalid UTF-8.
		actor = strings.ToValidUTF8(actor[:maxActor], "")
	}
	return actor
}

// seal seals v's JSON for the row (kind, ref, typ) and writes it.
func (s *Service) put(ctx context.Context, kind, ref, typ string, v any, overwrite bool, actor string) (created bool, keyID string, err error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return false, "", fmt.Errorf("credential %s/%s: encode: %w", kind, ref, err)
	}
	keyID, sealed, err := s.ring.Seal(plain, aad(kind, ref, typ))
	if err != nil {
		return false, "", fmt.Errorf("credential %s/%s: %w", kind, ref, err)
	}
	created, err = s.st.PutCredential(ctx, domain.CredentialRecord{
		Kind: kind, Ref: ref, Type: typ, KeyID: keyID, Sealed: sealed, UpdatedBy: cleanActor(actor),
	}, overwrite)
	if errors.Is(err, domain.ErrCredentialExists) {
		return false, "", fmt.Errorf("credential %s/%s: %w", kind, ref, ErrExists)
	}
	if err != nil {
		return false, "", fmt.Errorf("save credential %s/%s: %w", kind, ref, err)
	}
	return created, keyID, nil
}

// open reads and opens one row into v; found false when there is none.
func (s *Service) open(ctx context.Context, kind, ref string, v any) (typ string, found bool, err error) {
	rec, err := s.st.GetCredential(ctx, kind, ref)
	if err != nil {
		return "", false, fmt.Errorf("credential %s/%s: %w", kind, ref, err)
	}
	if rec == nil {
		return "", false, nil
	}
	plain, err := s.ring.Open(rec.KeyID, rec.Sealed, aad(rec.Kind, rec.Ref, rec.Type))
	if err != nil {
		return "", false, fmt.Errorf("credential %s/%s: %w", kind, ref, err)
	}
	if err := json.Unmarshal(plain, v); err != nil {
		// json's error may quote the input: give its position only.
		return "", false, fmt.Errorf("credential %s/%s: stored value is not the expected JSON", kind, ref)
	}
	return rec.Type, true, nil
}

// winrmValue is the sealed JSON of a WinRM credential.
type winrmValue struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// SaveWinRM seals and stores (or replaces: the page re-saves) the WinRM
// account of ref, and answers the normalized reference.
func (s *Service) SaveWinRM(ctx context.Context, ref, user string, password secrets.Secret, actor string) (string, error) {
	norm, err := normalizeRef(ref)
	if err != nil {
		return "", err
	}
	user = strings.TrimSpace(user)
	switch {
	case user == "":
		return "", invalid("user is required")
	case len(user) > maxName:
		return "", invalid("user is longer than %d characters", maxName)
	case password.IsZero():
		return "", invalid("password is required")
	case len(password.Reveal()) > maxPassword:
		return "", invalid("password is longer than %d characters", maxPassword)
	}
	if err := s.writable(); err != nil {
		return "", err
	}
	if _, _, err := s.put(ctx, domain.CredentialKindWinRM, norm, TypeWinRM, winrmValue{User: user, Password: password.Reveal()}, true, actor); err != nil {
		return "", err
	}
	s.forget(domain.CredentialKindWinRM, norm)
	s.opts.Logger.InfoContext(ctx, "credential saved", "kind", domain.CredentialKindWinRM, "credential_ref", norm, "by", cleanActor(actor))
	return norm, nil
}

func cacheKey(kind, ref string) string { return kind + "\x00" + ref }

func (s *Service) forget(kind, ref string) {
	s.mu.Lock()
	delete(s.cache, cacheKey(kind, ref))
	s.mu.Unlock()
}

// WinRM resolves ref's stored WinRM account. A read (found or not) is
// reused for CacheTTL; an error is not. Without a key or a database
// nothing is stored: found is false.
func (s *Service) WinRM(ctx context.Context, ref string) (user string, password secrets.Secret, found bool, err error) {
	if s == nil || s.st == nil || s.ring == nil {
		return "", secrets.Secret{}, false, nil
	}
	norm, err := normalizeRef(ref)
	if err != nil {
		return "", secrets.Secret{}, false, err
	}
	key := cacheKey(domain.CredentialKindWinRM, norm)
	now := s.opts.Now()
	if s.opts.CacheTTL > 0 {
		s.mu.Lock()
		c, ok := s.cache[key]
		s.mu.Unlock()
		if ok && now.Before(c.until) {
			return c.user, c.password, c.found, nil
		}
	}
	var v winrmValue
	_, found, err = s.open(ctx, domain.CredentialKindWinRM, norm, &v)
	if err != nil {
		return "", secrets.Secret{}, false, err
	}
	if found && (v.User == "" || v.Password == "") {
		return "", secrets.Secret{}, false, fmt.Errorf("credential winrm/%s: stored value lacks the user or the password", norm)
	}
	c := cached{user: v.User, password: secrets.NewSecret(v.Password), found: found, until: now.Add(s.opts.CacheTTL)}
	if s.opts.CacheTTL > 0 {
		s.mu.Lock()
		s.cache[key] = c
		s.mu.Unlock()
	}
	return c.user, c.password, c.found, nil
}

// hostRef is the reference a host's credentials are stored under: its
// credential_ref, or (a Host not from the catalog loader) its address.
func hostRef(h hosts.Host) string {
	if h.CredentialRef != "" {
		return h.CredentialRef
	}
	return strings.ToLower(h.Address)
}

// WinRMConfigured implements ops.CredentialResolver: the stored credential
// of h's reference opens.
func (s *Service) WinRMConfigured(ctx context.Context, h hosts.Host) bool {
	_, _, found, err := s.WinRM(ctx, hostRef(h))
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "stored credential does not resolve", "host", h.Name, "credential_ref", hostRef(h), "error", err)
		return false
	}
	return found
}

// List answers the metadata of one kind's credentials ("winrm", "power"),
// by reference.
func (s *Service) List(ctx context.Context, kind string) ([]Meta, error) {
	if s.st == nil {
		return nil, ErrNoDatabase
	}
	if kind != domain.CredentialKindWinRM && kind != domain.CredentialKindPower {
		return nil, invalid("kind %q is neither %s nor %s", kind, domain.CredentialKindWinRM, domain.CredentialKindPower)
	}
	recs, err := s.st.ListCredentials(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	out := make([]Meta, 0, len(recs))
	for _, r := range recs {
		out = append(out, Meta{CredentialRef: r.Ref, Type: r.Type, KeyID: r.KeyID, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy})
	}
	return out, nil
}

// Reseal re-seals every row not under the current key with it, in
// batches, each through a compare and swap, so it is safe while servers
// serve: a row rewritten meanwhile is skipped (the write is already under
// a current key, or is newer). A row that does not open (its key is not
// in the keyring, or it is damaged) is counted in Failed and named in the
// error; the others are still re-sealed.
func (s *Service) Reseal(ctx context.Context) (ResealReport, error) {
	var rep ResealReport
	if err := s.writable(); err != nil {
		return rep, err
	}
	cur := s.ring.CurrentID()
	// seen holds every row this run has handled; stuck those that may
	// still be under an old key (failed, lost a swap, or came back under an
	// old key after their swap: an instance whose current key is an old
	// one wrote them). The next query reads past the stuck ones.
	seen, stuck := map[string]bool{}, map[string]bool{}
	var failures []string
	for {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("reseal: %w", err)
		}
		limit := len(stuck) + resealBatch
		if limit > domain.MaxPageSize {
			return rep, fmt.Errorf("reseal: more than %d rows could not be re-sealed: %s", domain.MaxPageSize-resealBatch, strings.Join(failures, "; "))
		}
		recs, err := s.st.CredentialsNotUnder(ctx, cur, limit)
		if err != nil {
			return rep, fmt.Errorf("reseal: %w", err)
		}
		fresh := 0
		for _, r := range recs {
			k := cacheKey(r.Kind, r.Ref)
			if seen[k] {
				stuck[k] = true
				continue
			}
			seen[k] = true
			fresh++
			rep.Checked++
			ok, err := s.resealOne(ctx, cur, r)
			switch {
			case err != nil:
				rep.Failed++
				stuck[k] = true
				failures = append(failures, err.Error())
				s.opts.Logger.WarnContext(ctx, "credential not re-sealed", "kind", r.Kind, "credential_ref", r.Ref, "key_id", r.KeyID, "error", err)
			case ok:
				rep.Resealed++
			default:
				rep.Skipped++
				stuck[k] = true
			}
		}
		if fresh == 0 {
			break
		}
	}
	if len(failures) > 0 {
		return rep, fmt.Errorf("reseal: %d of %d rows could not be opened: %s", rep.Failed, rep.Checked, strings.Join(failures, "; "))
	}
	return rep, nil
}

func (s *Service) resealOne(ctx context.Context, cur string, r domain.CredentialRecord) (bool, error) {
	a := aad(r.Kind, r.Ref, r.Type)
	plain, err := s.ring.Open(r.KeyID, r.Sealed, a)
	if err != nil {
		return false, fmt.Errorf("credential %s/%s: %w", r.Kind, r.Ref, err)
	}
	keyID, sealed, err := s.ring.Seal(plain, a)
	clear(plain)
	if err != nil {
		return false, fmt.Errorf("credential %s/%s: %w", r.Kind, r.Ref, err)
	}
	if keyID != cur {
		return false, fmt.Errorf("credential %s/%s: sealed under %s, not the current key %s", r.Kind, r.Ref, keyID, cur)
	}
	ok, err := s.st.ResealCredential(ctx, r.Kind, r.Ref, r.KeyID, r.Sealed, keyID, sealed)
	if err != nil {
		return false, err
	}
	return ok, nil
}
