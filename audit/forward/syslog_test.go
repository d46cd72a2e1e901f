package forward_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/forward"
)

// rfc5424 is the message header a collector parses: PRI, VERSION 1,
// TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, then our one SD element
// and the MSG after a BOM.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) \[` +
	regexp.QuoteMeta(forward.SDID) + ` id="((?:[^"\\\]]|\\.)*)"(?: source="(?:[^"\\\]]|\\.)*")?(?: event="(?:[^"\\\]]|\\.)*")?\] \x{FEFF}(.*)$`)

// collector is a syslog listener: it reads octet-counted frames, parses
// each as RFC 5424 and keeps one record per id.
type collector struct {
	t      *testing.T
	ln     net.Listener
	mu     sync.Mutex
	got    map[string]json.RawMessage
	pris   map[int]int
	frames chan struct{}
}

func newCollector(t *testing.T, cfg *tls.Config) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	c := &collector{t: t, ln: ln, got: map[string]json.RawMessage{}, pris: map[int]int{}, frames: make(chan struct{}, 1)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.read(conn)
		}
	}()
	return c
}

func (c *collector) read(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		frame, err := forward.ReadFrame(br)
		if err != nil {
			return
		}
		m := rfc5424.FindSubmatch(frame)
		if m == nil {
			c.t.Errorf("not an RFC 5424 message: %q", frame)
			return
		}
		if _, err := time.Parse(time.RFC3339Nano, string(m[2])); err != nil {
			c.t.Errorf("timestamp %q: %v", m[2], err)
		}
		var rec forward.Record
		if err := json.Unmarshal(m[8], &rec); err != nil || rec.ID != string(m[7]) || string(m[6]) != "audit" {
			c.t.Errorf("MSG %q does not carry record %s: %v", m[8], m[7], err)
			return
		}
		pri, _ := strconv.Atoi(string(m[1]))
		c.mu.Lock()
		if _, dup := c.got[rec.ID]; !dup {
			c.pris[pri]++ // per record: at-least-once may repeat one
		}
		c.got[rec.ID] = rec.Record
		c.mu.Unlock()
		select {
		case c.frames <- struct{}{}:
		default:
		}
	}
}

func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		have := len(c.got)
		c.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-c.frames:
		case <-deadline:
			t.Fatalf("collector holds %d records, want %d", have, n)
		}
	}
}

func TestSyslog(t *testing.T) {
	ca, serverCfg := testCA(t)
	for _, tc := range []struct {
		name      string
		serverTLS *tls.Config
		clientTLS *tls.Config
	}{
		{"tcp", nil, nil},
		{"tls", serverCfg, &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := newCollector(t, tc.serverTLS)
			l := newLog(t)
			sl, err := forward.NewSyslog(forward.SyslogOptions{Address: col.ln.Addr().String(), TLS: tc.clientTLS, Hostname: "sidecar-1"})
			if err != nil {
				t.Fatal(err)
			}
			f, err := forward.Start(l.path, []forward.Target{{Name: "syslog", Sender: sl, Batch: 9}},
				forward.LogOptions{Interval: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			l.write(t, 50)
			col.waitFor(t, 50)
			f.Stop(2 * time.Second)
			want := l.want(t)
			col.mu.Lock()
			defer col.mu.Unlock()
			for id, raw := range want {
				if string(col.got[id]) != string(raw) {
					t.Errorf("record %s: got %q", id, col.got[id])
				}
			}
			// Facility 13 (log audit); denials at notice, the rest info.
			if col.pris[13*8+5] != 12 || col.pris[13*8+6] != 38 {
				t.Errorf("priorities %v", col.pris)
			}
		})
	}
}

// TestSyslogTLSRefusesUnknownCA: a collector whose certificate the
// configured CA did not sign gets nothing.
func TestSyslogTLSRefusesUnknownCA(t *testing.T) {
	_, serverCfg := testCA(t)
	other, _ := testCA(t)
	col := newCollector(t, serverCfg)
	sl, err := forward.NewSyslog(forward.SyslogOptions{Address: col.ln.Addr().String(), TLS: &tls.Config{RootCAs: other}})
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(t)
	l.write(t, 1)
	recs := l.wireRecords(t)
	if n, err := sl.ShipAudit(t.Context(), recs); err == nil || n != 0 {
		t.Fatalf("ShipAudit to an unknown CA = %d, %v", n, err)
	}
}

func TestSyslogOptions(t *testing.T) {
	for _, tc := range []struct{ name, addr, host string }{
		{"no port", "127.0.0.1", ""},
		{"space in hostname", "127.0.0.1:514", "a b"},
		{"long hostname", "127.0.0.1:514", strings.Repeat("h", 256)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := forward.NewSyslog(forward.SyslogOptions{Address: tc.addr, Hostname: tc.host}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// testCA makes a CA and a server certificate for 127.0.0.1 it signed.
func testCA(t *testing.T) (*x509.CertPool, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test syslog CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}
