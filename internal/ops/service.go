package ops

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ops-worker/ops-worker/internal/domain"
	"github.com/ops-worker/ops-worker/internal/hosts"
	"github.com/ops-worker/ops-worker/internal/lab"
)

// Service runs the use cases. The zero values of the optional fields are
// usable: no Store means "no database" (the timeline answers 500
// "Database not configured", polls are not stored), nil Now is time.Now,
// nil Logger discards.
type Service struct {
	// Registry is the host catalog in force (named so because Hosts is the
	// GET /api/hosts use case).
	Registry *hosts.Registry
	Lab      lab.Lab
	// Store is nil when no database is configured. Never assign a typed
	// nil pointer here.
	Store    Store
	Settings Settings
	Logger   *slog.Logger
	Now      func() time.Time
	// Version and DBKind are reported by Health.
	Version string
	DBKind  string // "mysql", "embedded-memory" or "none"
	// Polls, when set, is told the outcome of every heartbeat poll
	// (metrics); nil: nothing is observed.
	Polls PollObserver
	// RelayPing, when set, asks the relay whether it answers (Health's
	// relay.reachable); nil: reachable is false.
	RelayPing func(ctx context.Context) error
	// Guacamole, when set, is the gateway's Guacamole database that GET
	// /api/hosts links hosts to (guacamole.go); nil: not configured.
	Guacamole GuacamoleDirectory
	// Credentials tells GET /api/hosts whether a host's WinRM credentials
	// resolve; nil: the catalog's (CatalogCredentials).
	Credentials CredentialResolver
	// Notifier, when set, is told of every failed wake or command step
	// (notify.go); nil: nobody is.
	Notifier Notifier
	// Power, when set, runs the labs' power policies inside the
	// reservation flows (powerflow.go); nil: no outlet is switched.
	Power PowerPolicies
	// Prober probes provisioning candidates (POST /api/hosts/discover);
	// nil: discovery answers that it is not configured.
	Prober Prober
	// CredentialStore keeps the credentials POST
	// /api/hosts/winrm-credentials saves; nil without a database.
	CredentialStore CredentialStore

	apiSlots stationGate // the API's share of each station's WinRM slots (apislot.go)
}

// Settings are the configuration values the use cases read (config.Config
// converts into it, so this package does not depend on how they are read).
type Settings struct {
	AllowedCommands       []string
	TimelineDefaultLimit  int // 100
	TimelineMaxOps        int // 500
	TimelinePhaseLookback int // 500
	HeartbeatStaleAfter   time.Duration
	// RelayConfigured is reported by Health (the relay issue fills in
	// reachability).
	RelayConfigured bool
	// PowerOffProbe is how long each probe of the end flow's power-off
	// confirmation waits for an answer (EndRequest.PowerOffWait); a
	// station that answered is probed again half of it later. 0:
	// DefaultPowerOffProbe.
	PowerOffProbe time.Duration
	// StationPrefixes is OPS_STATION_CIDRS: when set, a wake request's
	// broadcast and ping_target must be IP literals inside it.
	StationPrefixes []netip.Prefix
	// MaxGuardGrace is OPS_MAX_GUARD_GRACE: the longest session-guard
	// grace a command may ask for; 0: DefaultMaxGuardGrace.
	MaxGuardGrace time.Duration
	// Provision are discovery's and provisioning's knobs.
	Provision ProvisionSettings
}

// DefaultPowerOffProbe is Settings.PowerOffProbe's default: an awake
// station on the LAN answers a probe within milliseconds.
const DefaultPowerOffProbe = 2 * time.Second

// Store is what the use cases need of the database (*store.Store has it; app checks).
type Store interface {
	Ping(ctx context.Context) error
	RecordOperation(ctx context.Context, op domain.Operation) (int64, error)
	ListOperations(ctx context.Context, reservationID string, limit, offset int) ([]domain.Operation, int, error)
	RecentOperations(ctx context.Context, f domain.OperationFilter, limit, offset int) ([]domain.Operation, int, error)
	GetReservation(ctx context.Context, reservationID string) (*domain.Reservation, error)
	SaveHeartbeat(ctx context.Context, hb domain.HeartbeatRecord) (domain.SavedHeartbeat, error)
	LatestHeartbeat(ctx context.Context, hostName string) (*domain.StoredHeartbeat, error)
	LatestHeartbeats(ctx context.Context, hostNames []string) (map[string]*domain.StoredHeartbeat, error)
	SetQuarantine(ctx context.Context, host string, quarantined bool) error
	Quarantines(ctx context.Context) (map[string]bool, error)
	// IsConnectionError tells a lost connection (a write worth retrying
	// on a new one) from a failed statement: the adapter knows its errors.
	IsConnectionError(err error) bool
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Catalog is the host catalog in force (a reload replaces it; its
// database part is re-read when older than the registry's RefreshEvery).
func (s *Service) Catalog(ctx context.Context) *hosts.Catalog { return s.Registry.Current(ctx) }

// host finds a catalog entry by name; notFound is the 404 message, with one
// %s for the (escaped) name the caller gave.
func (s *Service) host(ctx context.Context, name, notFound string) (hosts.Host, *Error) {
	h, ok := s.Catalog(ctx).Get(name)
	if !ok {
		return hosts.Host{}, Errorf(CodeHostNotFound, notFound, quoteName(name))
	}
	return h, nil
}
