package app

import (
	"github.com/ops-worker/ops-worker/internal/guacamole"
)

// openGuacamole prepares the reader of Guacamole's connections that GET
// /api/hosts links hosts to: the database the configuration names (see
// config.GuacamoleDB), else, on the embedded database, its
// EmbeddedGuacamoleDB; else none (the answer says "not configured"). It
// does not connect: a Guacamole database that is down shows in the hosts
// answer (guacamoleAvailable false), never stops the start.
func (a *App) openGuacamole(o Options) error {
	gcfg, err := a.cfg.GuacamoleDB()
	if err != nil {
		return err // names the variable, never the password
	}
	source := "configuration"
	if gcfg == nil && a.embed != nil && o.EmbeddedGuacamoleDB != "" {
		gcfg = a.embed.Config()
		gcfg.DBName = o.EmbeddedGuacamoleDB
		source = "embedded database"
	}
	if gcfg == nil {
		return nil
	}
	d, err := guacamole.Open(gcfg)
	if err != nil {
		return err
	}
	d.Logger = a.logger
	a.guac = d
	a.service.Guacamole = d
	a.logger.Info("guacamole: hosts are linked to the connections of its database", "source", source,
		"addr", gcfg.Addr, "database", gcfg.DBName)
	return nil
}
