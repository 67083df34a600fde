// Command pdusim runs a simulated PDU on loopback for `make run` and
// manual tests: an APC-like SNMP agent and a NETIO /netio.json server
// over the same outlets. Communities and keys come from the environment
// (PDUSIM_READ_COMMUNITY, PDUSIM_WRITE_COMMUNITY, PDUSIM_V3_USER,
// PDUSIM_V3_AUTH_KEY, PDUSIM_V3_PRIV_KEY, PDUSIM_NETIO_USER,
// PDUSIM_NETIO_PASSWORD) so they never show in a process list; what is
// served is printed, secrets never.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/ops-worker/ops-worker/internal/pdusim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pdusim:", err)
		os.Exit(1)
	}
}

func run() error {
	snmpPort := flag.Int("snmp-port", 16100, "SNMP UDP port on 127.0.0.1 (0: any; -1: no SNMP agent)")
	netioPort := flag.Int("netio-port", 18080, "NETIO HTTP port on 127.0.0.1 (0: any; -1: no NETIO server)")
	outlets := flag.Int("outlets", 2, "number of outlets")
	tables := flag.String("tables", "rpdu2", "APC tables served: rpdu2, legacy or both")
	delay := flag.Duration("delay", 0, "switching delay")
	netioTLS := flag.Bool("netio-tls", false, "serve NETIO over HTTPS with the simulator's own CA")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	tb, err := pdusim.ParseTables(*tables)
	if err != nil {
		return err
	}
	dev, err := pdusim.NewDevice(pdusim.DeviceConfig{Outlets: *outlets, SwitchDelay: *delay, RebootOff: 5 * time.Second,
		OnSwitch: func(n int, on bool) { log.Info("outlet switched", "outlet", n, "on", on) }})
	if err != nil {
		return err
	}
	defer dev.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	if *snmpPort >= 0 {
		cfg := pdusim.AgentConfig{Device: dev, Addr: "127.0.0.1:" + strconv.Itoa(*snmpPort), Tables: tb, SysName: "pdusim",
			ReadCommunity: env("PDUSIM_READ_COMMUNITY", "public"), WriteCommunity: env("PDUSIM_WRITE_COMMUNITY", "private"), Logger: log}
		if u := os.Getenv("PDUSIM_V3_USER"); u != "" {
			cfg.Users = []pdusim.User{{Name: u, Auth: gosnmp.SHA, AuthKey: os.Getenv("PDUSIM_V3_AUTH_KEY"),
				Priv: gosnmp.AES, PrivKey: os.Getenv("PDUSIM_V3_PRIV_KEY"), Write: true}}
		}
		a, err := pdusim.StartAgent(ctx, cfg)
		if err != nil {
			return err
		}
		defer a.Close()
		fmt.Printf("pdusim: SNMP agent udp:%s (%s tables, %d outlets, v1/v2c, %d v3 users, engine %x)\n", a.Addr(), tb, dev.Count(), len(cfg.Users), a.EngineID())
	}
	if *netioPort >= 0 {
		s, err := pdusim.StartNetio(ctx, pdusim.NetioConfig{Device: dev, Addr: "127.0.0.1:" + strconv.Itoa(*netioPort), TLS: *netioTLS,
			User: os.Getenv("PDUSIM_NETIO_USER"), Password: os.Getenv("PDUSIM_NETIO_PASSWORD"), Logger: log})
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Printf("pdusim: NETIO %s (Basic auth: %v)\n", s.URL(), os.Getenv("PDUSIM_NETIO_USER") != "")
		if *netioTLS {
			fmt.Printf("pdusim: NETIO CA\n%s", s.CACertPEM())
		}
	}
	<-ctx.Done()
	return nil
}
