package labsim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// KerberosOptions lets a host accept Kerberos (SPNEGO in "Authorization:
// Negotiate"), as a domain-joined station does. The client principal must
// be the host's User in Realm.
type KerberosOptions struct {
	Keytab           string // path of a keytab holding ServicePrincipal's key
	ServicePrincipal string // e.g. "HTTP/127.0.0.1" (without @REALM)
	Realm            string // the realm of the service and of the user
}

// krbAcceptor verifies AP-REQs for one host.
type krbAcceptor struct {
	kt    *keytab.Keytab
	spn   string
	realm string
}

func newKrbAcceptor(o *KerberosOptions) (*krbAcceptor, error) {
	if o == nil {
		return nil, nil
	}
	if o.Keytab == "" || o.ServicePrincipal == "" || o.Realm == "" {
		return nil, errors.New("kerberos needs Keytab, ServicePrincipal and Realm")
	}
	kt, err := keytab.Load(o.Keytab)
	if err != nil {
		return nil, fmt.Errorf("kerberos keytab: %w", err)
	}
	return &krbAcceptor{kt: kt, spn: o.ServicePrincipal, realm: o.Realm}, nil
}

// kerberosAuth handles a Negotiate token that is not raw NTLM. On success
// the connection is authenticated (like NTLM on HTTPS) and the mutual-
// authentication AP-REP is set in WWW-Authenticate.
func (h *Host) kerberosAuth(w http.ResponseWriter, cs *connState, https bool, token []byte) bool {
	answer, principal, err := h.krb.accept(token, h.user)
	if err != nil {
		h.sim.log.Info("labsim kerberos auth refused", "host", h.name, "principal", principal, "err", err)
		cs.authed, cs.session, cs.ntlm = false, nil, nil
		h.unauthorized(w, https, "kerberos: "+err.Error())
		return false
	}
	cs.authed, cs.session, cs.ntlm = true, nil, nil
	w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(answer))
	return true
}

// accept verifies a SPNEGO NegTokenInit holding a Kerberos AP-REQ for the
// service, from user@realm, and returns the SPNEGO answer with the AP-REP.
func (a *krbAcceptor) accept(token []byte, user string) (answer []byte, principal string, err error) {
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(token); err != nil || !st.Init {
		return nil, "", errors.New("not a SPNEGO NegTokenInit")
	}
	var mt spnego.KRB5Token
	if err := mt.Unmarshal(st.NegTokenInit.MechTokenBytes); err != nil || !mt.IsAPReq() {
		return nil, "", errors.New("no Kerberos AP-REQ in the SPNEGO token")
	}
	settings := service.NewSettings(a.kt, service.KeytabPrincipal(a.spn), service.DecodePAC(false),
		service.MaxClockSkew(5*time.Minute))
	ok, creds, err := service.VerifyAPREQ(&mt.APReq, settings)
	if err != nil || !ok {
		return nil, "", fmt.Errorf("AP-REQ not valid: %v", err)
	}
	principal = creds.UserName() + "@" + creds.Domain()
	if !strings.EqualFold(creds.UserName(), user) || creds.Domain() != a.realm {
		return nil, principal, fmt.Errorf("principal %s is not %s@%s", principal, user, a.realm)
	}
	answer, err = apRepToken(mt.APReq)
	return answer, principal, err
}

// apRepToken makes the AP-REP (RFC 4120 5.5.2) that echoes the verified
// authenticator's time, sealed with the session key, in a KRB5 mech token
// inside an accept-completed NegTokenResp. gokrb5 only parses AP-REPs.
func apRepToken(req messages.APReq) ([]byte, error) {
	part := messages.EncAPRepPart{CTime: req.Authenticator.CTime, Cusec: req.Authenticator.Cusec}
	pb, err := asn1.Marshal(part)
	if err != nil {
		return nil, err
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	key := req.Ticket.DecryptedEncPart.Key
	enc, err := crypto.GetEncryptedData(pb, key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: enc}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, err
	}
	rb = asn1tools.AddASNAppTag(rb, asnAppTag.APREP)
	oid, _ := asn1.Marshal(gssapi.OIDKRB5.OID())
	mech := asn1tools.AddASNAppTag(append(append(oid, 0x02, 0x00), rb...), 0)
	resp := spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted),
		SupportedMech: gssapi.OIDKRB5.OID(), ResponseToken: mech}
	return resp.Marshal()
}
