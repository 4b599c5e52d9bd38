package podfiles_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	podfiles "github.com/podfiles/podfiles/sdk/go"
	"github.com/podfiles/podfiles/sdk/go/internal/testserver"
)

func TestDialRefusesATokenOverPlaintext(t *testing.T) {
	for _, target := range []string{"127.0.0.1:1", "http://127.0.0.1:1"} {
		if _, err := podfiles.Dial(target, podfiles.WithToken("secret")); err == nil || !strings.Contains(err.Error(), "WithToken needs TLS") {
			t.Fatalf("%s: want a refusal, got %v", target, err)
		}
		c, err := podfiles.Dial(target, podfiles.WithInsecureToken("secret"))
		if err != nil {
			t.Fatalf("%s: WithInsecureToken: %v", target, err)
		}
		c.Close()
	}
	for _, bad := range []string{"ftp://x:1", "http://", "http://h:1/some/path"} {
		if _, err := podfiles.Dial(bad); err == nil {
			t.Fatalf("%s: want an error", bad)
		}
	}
}

// A server with TLS and JWT authentication: the token must travel, over TLS.
func TestTLSAndBearerToken(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	secret := []byte(strings.Repeat("s3cret-", 8))
	if err := os.WriteFile(filepath.Join(dir, "k1"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	srv, err := testserver.Start(root, "--auth", "jwt", "--jwt-key", "k1="+filepath.Join(dir, "k1"), "--tls-cert", certFile, "--tls-key", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	target := "https://127.0.0.1:" + strconv.Itoa(srv.Port)
	ctx := testContext(t)
	tlsConfig := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	c, err := podfiles.Dial(target, podfiles.WithTLS(tlsConfig), podfiles.WithToken(hs256(t, "k1", secret)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Upload(ctx, pod, "/t.txt", strings.NewReader("over TLS\n"), podfiles.UploadOptions{}); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "t.txt")); err != nil || string(b) != "over TLS\n" {
		t.Fatalf("%q %v", b, err)
	}

	anonymous, err := podfiles.Dial(target, podfiles.WithTLS(tlsConfig))
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	_, err = anonymous.Stat(ctx, pod, "/t.txt", podfiles.StatOptions{})
	wantCode(t, "without a token", err, podfiles.ErrUnauthenticated)

	// The system roots do not know the self-signed certificate.
	untrusted, err := podfiles.Dial(target, podfiles.WithToken("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	_, err = untrusted.Stat(ctx, pod, "/t.txt", podfiles.StatOptions{})
	wantCode(t, "an untrusted certificate", err, podfiles.ErrUnavailable)
}

// selfSigned writes a certificate for 127.0.0.1 and its key; returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "podfiles test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDer, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDer}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// hs256 is a podfiles JWT (src/auth/jwt.ts) for every namespace and verb.
func hs256(t *testing.T, kid string, secret []byte) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	signing := enc(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + enc(map[string]any{
		"iss": "podfiles", "aud": "podfiles", "sub": "sdk-test", "iat": now, "exp": now + 600,
		"scopes": map[string]any{"namespaces": []string{"*"}, "verbs": []string{"*"}},
	})
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
