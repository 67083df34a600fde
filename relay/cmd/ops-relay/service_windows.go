//go:build windows

package main

import (
	"context"

	"golang.org/x/sys/windows/svc"
)

// serviceName is the name the README's `sc.exe create` gives the service.
const serviceName = "ops-relay"

// isWindowsService says whether the Service Control Manager started us.
func isWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// runService runs m under the Service Control Manager until it is told to
// stop (or the server stops on its own).
func runService(m *Main) error { return svc.Run(serviceName, &service{m: m}) }

type service struct{ m *Main }

// Execute implements svc.Handler.
func (s *service) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	if err := s.m.Run(context.Background()); err != nil {
		return true, 1
	}
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				if err := s.m.Close(); err != nil {
					return true, 2
				}
				return false, 0
			}
		case err := <-s.m.done:
			s.m.done <- err // for Close
			_ = s.m.Close()
			return true, 3
		}
	}
}
