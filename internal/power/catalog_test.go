package power

import (
	"errors"
	"strings"
	"testing"
)

func TestParseController_DefaultsAndRefusals(t *testing.T) {
	c, err := ParseController([]byte(`{"id":"p","driver":"MOCK","outlets":[{"outlet":3}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "p" || c.Driver != DriverMock || !c.Enabled || c.Outlets[0].Outlet != "3" || c.Outlets[0].DefaultState != StateOff {
		t.Errorf("defaults: %+v", c)
	}
	for name, body := range map[string]string{
		"community":      `{"id":"p","driver":"mock","config":{"community":"public-secret"},"outlets":[{"outlet":"1"}]}`,
		"privPassword":   `{"id":"p","driver":"mock","config":{"privPassword":"x"},"outlets":[{"outlet":"1"}]}`,
		"unknown config": `{"id":"p","driver":"mock","config":{"colour":"x"},"outlets":[{"outlet":"1"}]}`,
		"top secret":     `{"id":"p","driver":"mock","secret":"x","outlets":[{"outlet":"1"}]}`,
		"dup outlet":     `{"id":"p","driver":"mock","outlets":[{"outlet":"1"},{"outlet":1}]}`,
		"apc no host":    `{"id":"p","driver":"apc-powernet-snmp","credentialRef":"r","outlets":[{"outlet":"1"}]}`,
		"apc no cred":    `{"id":"p","driver":"apc-powernet-snmp","host":"10.0.0.9","outlets":[{"outlet":"1"}]}`,
		"bad port":       `{"id":"p","driver":"mock","port":70000,"outlets":[{"outlet":"1"}]}`,
		"bad state":      `{"id":"p","driver":"mock","outlets":[{"outlet":"1","defaultState":"maybe"}]}`,
		"id slash":       `{"id":"a/b","driver":"mock","outlets":[{"outlet":"1"}]}`,
	} {
		_, err := ParseController([]byte(body))
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
			continue
		}
		if strings.Contains(err.Error(), "public-secret") {
			t.Errorf("%s: the error echoes the value: %v", name, err)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	ctl := []Controller{{ID: "p", Outlets: []Outlet{{Outlet: "1"}, {Outlet: "2"}}}}
	p, err := ParsePolicy([]byte(`{"labId":2,"policyName":"n","steps":[
	 {"phase":"pre_start","sequence":2,"controllerId":"p","outlet":"2","action":"on"},
	 {"phase":"pre_start","sequence":1,"controllerId":"p","outlet":1,"action":"cycle"}]}`), ctl)
	if err != nil {
		t.Fatal(err)
	}
	st := p.StepsFor(PhasePreStart)
	if p.LabID != "2" || len(st) != 2 || st[0].Outlet != "1" || st[0].OffSeconds != DefaultOffSeconds || st[1].DesiredState != "on" ||
		!st[1].Required || !st[1].ReadBackRequired || st[1].TimeoutSeconds != DefaultTimeoutSeconds || p.EndFailureMode != WarnAndContinue {
		t.Errorf("parsed: %+v", p)
	}
	for name, body := range map[string]string{
		"dup sequence": `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","outlet":"1","action":"on"},{"phase":"pre_start","controllerId":"p","outlet":"2","action":"off"}]}`,
		"no outlet":    `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","outlet":"9","action":"on"}]}`,
		"cycle 0":      `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","outlet":"1","action":"cycle","offSeconds":0}]}`,
		"retry 6":      `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","outlet":"1","action":"on","retryCount":6}]}`,
		"mode":         `{"labId":"2","policyName":"n","startFailureMode":"ignore","steps":[]}`,
		"no name":      `{"labId":"2","steps":[]}`,
		"unknown":      `{"labId":"2","policyName":"n","steps":[],"extra":1}`,
	} {
		if _, err := ParsePolicy([]byte(body), ctl); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// DecodePolicy applies every rule but the catalog's: a step on an unknown
// controller passes, the other refusals stay.
func TestDecodePolicy(t *testing.T) {
	p, err := DecodePolicy([]byte(`{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"elsewhere","outlet":"7","action":"off"}]}`))
	if err != nil || len(p.Steps) != 1 || p.Steps[0].DesiredState != StateOff {
		t.Fatalf("%+v, %v", p, err)
	}
	if err := ValidatePolicy(p, nil); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "not in the catalog") {
		t.Errorf("ValidatePolicy without the controller: %v", err)
	}
	for name, body := range map[string]string{
		"dup sequence":  `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","outlet":"1","action":"on"},{"phase":"pre_start","controllerId":"q","outlet":"2","action":"off"}]}`,
		"no controller": `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","outlet":"1","action":"on"}]}`,
		"no outlet":     `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","action":"on"}]}`,
		"bad action":    `{"labId":"2","policyName":"n","steps":[{"phase":"pre_start","controllerId":"p","outlet":"1","action":"toggle"}]}`,
		"unknown":       `{"labId":"2","policyName":"n","steps":[],"extra":1}`,
	} {
		if _, err := DecodePolicy([]byte(body)); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
