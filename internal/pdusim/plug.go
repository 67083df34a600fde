package pdusim

import (
	"fmt"

	"github.com/ops-worker/ops-worker/internal/labsim"
)

// station is what an outlet powers: labsim's *Host.
type station interface {
	Sleep()
	Wake()
}

// PlugStation plugs a labsim station into outlet n of dev: switching the
// outlet off powers the station down (its connections drop), switching it
// on boots it, whatever Wake-on-LAN says. The station is not touched now.
func PlugStation(dev *Device, n int, h *labsim.Host) error {
	if h == nil {
		return fmt.Errorf("pdusim: plug into outlet %d: no host", n)
	}
	return plug(dev, n, h)
}

func plug(dev *Device, n int, s station) error {
	if n < 1 || n > dev.Count() {
		return fmt.Errorf("pdusim: no outlet %d (1..%d)", n, dev.Count())
	}
	dev.OnSwitch(func(outlet int, on bool) {
		if outlet != n {
			return
		}
		if on {
			s.Wake()
		} else {
			s.Sleep()
		}
	})
	return nil
}
