package domain

// HostScope is the reservation id of an operation on a host itself, not a
// step of any reservation (a local-mode change, a notification about
// /api/wol or /api/winrm): reservation_operations requires one, and one
// spelling keeps them listable (GET /api/operations/recent
// ?reservationId=host:<name>) and apart from every reservation's.
func HostScope(host string) string { return "host:" + host }
