package winrm

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// krbTicket is the service ticket of one call.
type krbTicket struct {
	tkt   messages.Ticket
	key   types.EncryptionKey
	cname types.PrincipalName
	realm string
}

// getTicket logs in and gets the service ticket. gokrb5 takes no context:
// the exchange runs in a goroutine the call abandons when its context ends.
func (k *krbTransport) getTicket() (*krbTicket, error) {
	cfg, err := krbconfig.Load(k.krb5conf)
	if err != nil {
		return nil, &kindError{kind: ErrConfig, msg: fmt.Sprintf("kerberos: krb5.conf %s: %v", k.krb5conf, err)}
	}
	type result struct {
		t   *krbTicket
		err error
	}
	done := make(chan result, 1)
	if k.bg != nil {
		k.bg.Add(1)
	}
	go func() {
		if k.bg != nil {
			defer k.bg.Done()
		}
		cl := krbclient.NewWithPassword(k.user, k.realm, k.password, cfg, krbclient.DisablePAFXFAST(true))
		defer cl.Destroy()
		var r result
		if err := cl.Login(); err != nil {
			r.err = kdcError("kerberos login of "+k.user+"@"+k.realm, err)
		} else if tkt, key, err := cl.GetServiceTicket(k.spn); err != nil {
			r.err = kdcError("kerberos service ticket for "+k.spn, err)
		} else {
			r.t = &krbTicket{tkt: tkt, key: key, cname: cl.Credentials.CName(), realm: cl.Credentials.Domain()}
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.t, r.err
	case <-k.ctx.Done():
		return nil, fmt.Errorf("kerberos: KDC exchange abandoned: %w", k.ctx.Err())
	}
}

// kdcError types a gokrb5 failure. gokrb5 flattens KDC errors into text,
// so the KDC's error names are matched.
func kdcError(what string, err error) error {
	text := err.Error()
	for _, refused := range []string{"KDC_ERR_PREAUTH_FAILED", "KDC_ERR_C_PRINCIPAL_UNKNOWN", "KDC_ERR_CLIENT_REVOKED",
		"KDC_ERR_KEY_EXPIRED", "KRB_AP_ERR_BAD_INTEGRITY", "KDC_ERR_POLICY"} {
		if strings.Contains(text, refused) {
			return &kindError{kind: ErrUnauthorized, msg: what + ": KDC refused the credentials (" + refused + ")"}
		}
	}
	return &kindError{kind: ErrKerberos, msg: what + ": " + text}
}

// apReq builds the SPNEGO NegTokenInit carrying a Kerberos AP-REQ that asks
// for mutual authentication. ctime/cusec identify its authenticator, which
// the station's AP-REP must echo.
func (t *krbTicket) apReq() (token []byte, ctime time.Time, cusec int, err error) {
	auth, err := types.NewAuthenticator(t.realm, t.cname)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	// RFC 4121 4.1.1: the GSS checksum (no channel bindings) with the
	// context flags.
	cksum := make([]byte, 24)
	binary.LittleEndian.PutUint32(cksum[:4], 16)
	binary.LittleEndian.PutUint32(cksum[20:24], uint32(gssapi.ContextFlagMutual|gssapi.ContextFlagInteg|gssapi.ContextFlagConf))
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: cksum}
	req, err := messages.NewAPReq(t.tkt, t.key, auth)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	apb, err := req.Marshal()
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	oid, _ := asn1.Marshal(gssapi.OIDKRB5.OID())
	mech := asn1tools.AddASNAppTag(append(append(oid, 0x01, 0x00), apb...), 0)
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes: []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()}, MechTokenBytes: mech}}
	token, err = st.Marshal()
	return token, auth.CTime, auth.Cusec, err
}

// checkAPRep verifies the station's mutual-authentication token (RFC 4120
// 3.2.4): an AP-REP, sealed with the session key, echoing our
// authenticator's time. Only the holder of the service key can make it.
func (t *krbTicket) checkAPRep(values []string, ctime time.Time, cusec int) error {
	var raw []byte
	for _, v := range values {
		name, data, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(name, "Negotiate") || strings.TrimSpace(data) == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err != nil {
			return errors.New("bad base64 in the Negotiate answer")
		}
		raw = b
		break
	}
	if raw == nil {
		return errors.New("the station sent no AP-REP")
	}
	var resp spnego.NegTokenResp
	if err := resp.Unmarshal(raw); err != nil {
		return fmt.Errorf("answer is not a SPNEGO NegTokenResp: %v", err)
	}
	if resp.NegState != asn1.Enumerated(spnego.NegStateAcceptCompleted) {
		return fmt.Errorf("SPNEGO state %d, not accept-completed", resp.NegState)
	}
	var mt spnego.KRB5Token
	if err := mt.Unmarshal(resp.ResponseToken); err != nil {
		return err
	}
	if !mt.IsAPRep() {
		return errors.New("the answer token is not an AP-REP")
	}
	plain, err := crypto.DecryptEncPart(mt.APRep.EncPart, t.key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return errors.New("AP-REP not sealed with the session key")
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return fmt.Errorf("AP-REP encrypted part: %v", err)
	}
	if !part.CTime.Equal(ctime.Truncate(time.Second)) || part.Cusec != cusec {
		return errors.New("AP-REP does not echo our authenticator")
	}
	return nil
}
