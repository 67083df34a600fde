package winrm

import (
	"errors"
	"fmt"
	"testing"
)

// fault is a SOAP fault shaped like Windows' (and labsim's).
func fault(subcode, code, msg string) string {
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header/><s:Body><s:Fault>` +
		`<s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>` + subcode + `</s:Value></s:Subcode></s:Code>` +
		`<s:Reason><s:Text xml:lang="en-US">` + msg + `</s:Text></s:Reason><s:Detail>` +
		`<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="` + code + `" Machine="LAB-WS-01"><f:Message>` + msg + `</f:Message></f:WSManFault>` +
		`</s:Detail></s:Fault></s:Body></s:Envelope>`
}

func TestIsOperationTimeout(t *testing.T) {
	const timedOutMsg = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Windows TimedOut fault", &statusError{500, fault("w:TimedOut", "2150858793", timedOutMsg)}, true},
		{"code only", &statusError{500, fault("w:Other", "2150858793", "x")}, true},
		{"subcode only", &statusError{500, fault("w:TimedOut", "", "x")}, true},
		{"wrapped", fmt.Errorf("post: %w", &statusError{500, fault("w:TimedOut", "2150858793", timedOutMsg)}), true},
		// masterzen's substring match takes these for "still running".
		{"other fault naming OperationTimeout", &statusError{500, fault("w:InvalidParameter", "2150858854", "OperationTimeout PT0S is below the minimum")}, false},
		{"not a fault", &statusError{502, "<html>OperationTimeout</html>"}, false},
		{"transport error", errors.New("post: OperationTimeout EOF"), false},
	}
	for _, tt := range tests {
		if got := isOperationTimeout(tt.err); got != tt.want {
			t.Errorf("%s: isOperationTimeout = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFaultError(t *testing.T) {
	err := faultError(&statusError{500, fault("w:QuotaLimit", "2150859174", "maximum number of 2 concurrent operations")})
	if !errors.Is(err, ErrQuota) || err.Error() != "WS-Management fault w:QuotaLimit (code 2150859174): maximum number of 2 concurrent operations" {
		t.Errorf("faultError = %v", err)
	}
	err = faultError(&statusError{500, fault("w:InvalidSelectors", "2150858843", "unknown shell")})
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("faultError(InvalidSelectors) = %v, want ErrProtocol", err)
	}
	plain := errors.New("post: EOF")
	if got := faultError(plain); got != plain {
		t.Errorf("faultError(non-fault) = %v, want it unchanged", got)
	}
}
