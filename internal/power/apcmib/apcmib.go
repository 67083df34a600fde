// Package apcmib lists the APC PowerNet MIB objects and values the
// apc-powernet-snmp driver and the SNMP test simulator both use, as the
// older worker's power/drivers/apc_snmp.py pins them down. OIDs are written
// without a leading dot; a column's instance is Column + "." + index.
package apcmib

// System group (MIB-II), the fallback identity when a profile's model and
// firmware objects are absent.
const (
	SysDescr    = "1.3.6.1.2.1.1.1.0"
	SysObjectID = "1.3.6.1.2.1.1.2.0"
)

// Legacy profile: the sPDU tables of older switched Rack PDUs (AP79xx).
const (
	LegacyModel       = "1.3.6.1.4.1.318.1.1.4.1.4.0" // sPDUIdentModelNumber
	LegacyFirmware    = "1.3.6.1.4.1.318.1.1.4.1.2.0" // sPDUIdentFirmwareRev
	LegacyOutletCount = "1.3.6.1.4.1.318.1.1.4.4.1.0" // sPDUOutletControlTableSize
	LegacyTable       = "1.3.6.1.4.1.318.1.1.4.4.2.1" // sPDUOutletControlEntry
	// LegacyCtl is sPDUOutletCtl: read for the state, written for a command
	// (LegacyOn, LegacyOff, LegacyReboot).
	LegacyCtl  = "1.3.6.1.4.1.318.1.1.4.4.2.1.3"
	LegacyName = "1.3.6.1.4.1.318.1.1.4.4.2.1.4" // sPDUOutletCtlName
)

// sPDUOutletCtl values: the state read (LegacyOn, LegacyOff) and the
// commands written (all three).
const (
	LegacyOn     = 1 // outletOn
	LegacyOff    = 2 // outletOff
	LegacyReboot = 3 // outletReboot
)

// rPDU2 profile: the switched outlet tables of current Rack PDUs (AP8xxx,
// APDU9xxx) under 1.3.6.1.4.1.318.1.1.26. Table rows are indexed by
// rPDU2OutletSwitchedStatusIndex; a daisy chain holds several modules, each
// numbering its outlets from 1.
const (
	// Identity of device (module) n: Column + "." + n.
	RPDU2Model    = "1.3.6.1.4.1.318.1.1.26.2.1.8" // rPDU2IdentModelNumber
	RPDU2Firmware = "1.3.6.1.4.1.318.1.1.26.2.1.6" // rPDU2IdentFirmwareRevision

	RPDU2StatusTable = "1.3.6.1.4.1.318.1.1.26.9.2.3.1"   // rPDU2OutletSwitchedStatusEntry
	RPDU2Index       = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.1" // rPDU2OutletSwitchedStatusIndex
	RPDU2Module      = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.2" // rPDU2OutletSwitchedStatusModule
	RPDU2Name        = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.3" // rPDU2OutletSwitchedStatusName
	RPDU2Number      = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.4" // rPDU2OutletSwitchedStatusNumber
	RPDU2State       = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5" // rPDU2OutletSwitchedStatusState

	RPDU2ControlTable = "1.3.6.1.4.1.318.1.1.26.9.2.4.1"   // rPDU2OutletSwitchedControlEntry
	RPDU2Command      = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.5" // rPDU2OutletSwitchedControlCommand
)

// rPDU2OutletSwitchedStatusState values (note: the reverse of legacy's).
const (
	RPDU2StateOff = 1
	RPDU2StateOn  = 2
)

// rPDU2OutletSwitchedControlCommand values.
const (
	RPDU2ImmediateOn     = 1
	RPDU2ImmediateOff    = 2
	RPDU2ImmediateReboot = 3
)
