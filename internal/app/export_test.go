package app

// WinRMBuilt reports whether a's WinRM client has been built.
func WinRMBuilt(a *App) bool { return a.lab.Built() }
