package ops

import (
	"net/netip"

	"github.com/ops-worker/ops-worker/internal/netaddr"
)

// checkWakeTargets refuses a request's broadcast or ping_target override
// that would aim magic packets or TCP probes outside the lab: with
// Settings.StationPrefixes (OPS_STATION_CIDRS) set, each given must be an
// IP literal inside them (names are not resolved), as the relay requires
// of its subnets. The catalog's own values are the operator's and are not
// checked here; without the setting nothing is.
func (s *Service) checkWakeTargets(r WakeOptions) *Error {
	if len(s.Settings.StationPrefixes) == 0 {
		return nil
	}
	for _, f := range []struct{ name, v string }{{"broadcast", r.Broadcast}, {"ping_target", r.PingTarget}} {
		if f.v == "" {
			continue
		}
		a, err := netip.ParseAddr(f.v)
		if err != nil {
			return Errorf(CodeBadRequest, "%s '%s' is not an IP address: with OPS_STATION_CIDRS set, it must be an IP literal inside it", f.name, quoteName(f.v))
		}
		if !netaddr.InPrefixes(a, s.Settings.StationPrefixes) {
			return Errorf(CodeBadRequest, "%s '%s' is outside OPS_STATION_CIDRS", f.name, quoteName(f.v))
		}
	}
	return nil
}
