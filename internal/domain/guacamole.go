package domain

// GuacConnection is one connection of the gateway's Apache Guacamole, as
// its tables hold it (guacamole_connection and the hostname and port of
// guacamole_connection_parameter). Hostname and Port are "" when the
// connection has no such parameter; Port is the parameter's text, as
// Guacamole stores it.
type GuacConnection struct {
	ID       int64
	Name     string
	Protocol string
	Hostname string
	Port     string
}
