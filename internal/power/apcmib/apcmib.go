// Package apcmib holds the APC PowerNet MIB object identifiers and value
// maps that the apc-powernet-snmp driver reads and writes and the PDU
// simulator (internal/pdusim) serves, so both sides use one list. The OIDs
// and values are those of upstream's power/drivers/apc_snmp.py and of the
// PowerNet MIB it follows. A column OID is followed by ".<outlet index>"
// (rPDU2 and legacy tables alike); an identity column of the rPDU2 ident
// table by ".<module index>" (1 on a single-module PDU).
package apcmib

// MIB-II system group (RFC 1213), scalars.
const (
	SysDescr    = "1.3.6.1.2.1.1.1.0"
	SysObjectID = "1.3.6.1.2.1.1.2.0"
	SysUpTime   = "1.3.6.1.2.1.1.3.0"
	SysContact  = "1.3.6.1.2.1.1.4.0"
	SysName     = "1.3.6.1.2.1.1.5.0"
	SysLocation = "1.3.6.1.2.1.1.6.0"
)

// sysObjectID values of APC switched PDUs.
const (
	// ProductMasterSwitchRPDU is an AP79xx (legacy sPDU tables).
	ProductMasterSwitchRPDU = "1.3.6.1.4.1.318.1.3.4.5"
	// ProductMasterSwitchRPDU2 is an AP8xxx (rPDU2 tables).
	ProductMasterSwitchRPDU2 = "1.3.6.1.4.1.318.1.3.4.6"
)

// Legacy PowerNet sPDU tables (masterswitch rPDU, AP79xx).
const (
	// LegacyFirmware is sPDUIdentFirmwareRev.0.
	LegacyFirmware = "1.3.6.1.4.1.318.1.1.4.1.2.0"
	// LegacyModel is sPDUIdentModelNumber.0.
	LegacyModel = "1.3.6.1.4.1.318.1.1.4.1.4.0"
	// LegacyOutletCount is sPDUOutletControlTableSize.0: the driver's
	// auto-detection reads it first; a positive count selects "legacy".
	LegacyOutletCount = "1.3.6.1.4.1.318.1.1.4.4.1.0"
	// LegacyOutletTable is sPDUOutletControlEntry.
	LegacyOutletTable = "1.3.6.1.4.1.318.1.1.4.4.2.1"
	// LegacyOutletIndex is sPDUOutletControlIndex.
	LegacyOutletIndex = "1.3.6.1.4.1.318.1.1.4.4.2.1.1"
	// LegacyOutletPending is sPDUOutletPending (PendingCommand values).
	LegacyOutletPending = "1.3.6.1.4.1.318.1.1.4.4.2.1.2"
	// LegacyOutletCtl is sPDUOutletCtl: read for the state (LegacyOn,
	// LegacyOff), written with LegacyOn, LegacyOff or LegacyReboot.
	LegacyOutletCtl = "1.3.6.1.4.1.318.1.1.4.4.2.1.3"
	// LegacyOutletName is sPDUOutletCtlName.
	LegacyOutletName = "1.3.6.1.4.1.318.1.1.4.4.2.1.4"
)

// sPDUOutletCtl values.
const (
	LegacyOn      = 1 // outletOn
	LegacyOff     = 2 // outletOff
	LegacyReboot  = 3 // outletReboot (write only)
	LegacyUnknown = 4 // outletUnknown (read only)
)

// rPDU2 tables (AP8xxx).
const (
	// RPDU2IdentFirmware is rPDU2IdentFirmwareRev (+ ".<module>").
	RPDU2IdentFirmware = "1.3.6.1.4.1.318.1.1.26.2.1.6"
	// RPDU2IdentModel is rPDU2IdentModelNumber (+ ".<module>").
	RPDU2IdentModel = "1.3.6.1.4.1.318.1.1.26.2.1.8"
	// RPDU2IdentSerial is rPDU2IdentSerialNumber (+ ".<module>").
	RPDU2IdentSerial = "1.3.6.1.4.1.318.1.1.26.2.1.9"

	// RPDU2StatusTable is rPDU2OutletSwitchedStatusEntry.
	RPDU2StatusTable = "1.3.6.1.4.1.318.1.1.26.9.2.3.1"
	// RPDU2StatusIndex is rPDU2OutletSwitchedStatusIndex: the driver's
	// auto-detection walks it when the legacy count is absent.
	RPDU2StatusIndex  = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.1"
	RPDU2StatusModule = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.2"
	RPDU2StatusName   = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.3"
	RPDU2StatusNumber = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.4"
	// RPDU2StatusState is rPDU2OutletSwitchedStatusState (RPDU2StateOff,
	// RPDU2StateOn): note the order is the reverse of the legacy table's.
	RPDU2StatusState = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5"
	// RPDU2StatusCommandPending is rPDU2OutletSwitchedStatusCommandPending
	// (PendingCommand values).
	RPDU2StatusCommandPending = "1.3.6.1.4.1.318.1.1.26.9.2.3.1.6"

	// RPDU2ControlTable is rPDU2OutletSwitchedControlEntry.
	RPDU2ControlTable  = "1.3.6.1.4.1.318.1.1.26.9.2.4.1"
	RPDU2ControlIndex  = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.1"
	RPDU2ControlModule = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.2"
	RPDU2ControlName   = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.3"
	RPDU2ControlNumber = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.4"
	// RPDU2ControlCommand is rPDU2OutletSwitchedControlCommand, written
	// with RPDU2ImmediateOn, RPDU2ImmediateOff or RPDU2ImmediateReboot; read,
	// it answers RPDU2ImmediateOn or RPDU2ImmediateOff for the state.
	RPDU2ControlCommand = "1.3.6.1.4.1.318.1.1.26.9.2.4.1.5"
)

// rPDU2OutletSwitchedStatusState values.
const (
	RPDU2StateOff = 1
	RPDU2StateOn  = 2
)

// rPDU2OutletSwitchedControlCommand values the driver writes.
const (
	RPDU2ImmediateOn     = 1
	RPDU2ImmediateOff    = 2
	RPDU2ImmediateReboot = 3
)

// Pending-command values of sPDUOutletPending and
// rPDU2OutletSwitchedStatusCommandPending.
const (
	CommandPending   = 1
	NoCommandPending = 2
)
