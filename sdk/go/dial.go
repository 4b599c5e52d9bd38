package podfiles

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// HTTP/2 flow-control windows and message limits every client here uses.
// Windows are the biggest throughput lever of the TypeScript client (×2.5–3.6,
// src/client/wide-session-manager.ts), which has no window probing. grpc-go
// grows its 64 KiB default by BDP probing, up to 16 MiB; fixed windows (which
// turn the probing off) start wide. On loopback both measured the same
// (bench_test.go: raw vs raw-grpc-default-windows, within this VM's noise).
const (
	StreamWindow   = 8 << 20  // per stream
	ConnWindow     = 32 << 20 // per connection
	MaxMessageSize = 16 << 20 // receive and send; data messages are at most 4 MiB
)

// Option configures Dial and DialOptions.
type Option func(*dialConfig)

type dialConfig struct {
	tls       *tls.Config
	useTLS    bool
	token     string
	plaintext bool // the token may travel without TLS
	extra     []grpc.DialOption
}

// WithTLS dials with TLS; nil means the system's roots and the target's host
// name. An https:// target implies WithTLS(nil).
func WithTLS(cfg *tls.Config) Option {
	return func(c *dialConfig) { c.useTLS, c.tls = true, cfg }
}

// WithToken sends "authorization: Bearer TOKEN" on every call. It needs TLS:
// Dial refuses it on a plaintext connection (see WithInsecureToken).
func WithToken(token string) Option {
	return func(c *dialConfig) { c.token, c.plaintext = token, false }
}

// WithInsecureToken is WithToken that also works without TLS, for a server
// reached over loopback or a port-forward, where nobody can read the wire.
func WithInsecureToken(token string) Option {
	return func(c *dialConfig) { c.token, c.plaintext = token, true }
}

// WithGRPCOptions adds grpc.DialOptions (interceptors, a custom dialer, ...).
func WithGRPCOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.extra = append(c.extra, opts...) }
}

// DialOptions are the grpc.DialOptions Dial uses: transport credentials, the
// bearer token, the large windows and the message limits. For a connection
// made with grpc.NewClient(target, podfiles.DialOptions(...)...) and wrapped
// with NewClient.
func DialOptions(opts ...Option) []grpc.DialOption {
	var c dialConfig
	for _, o := range opts {
		o(&c)
	}
	return c.dialOptions()
}

func (c *dialConfig) dialOptions() []grpc.DialOption {
	creds := insecure.NewCredentials()
	if c.useTLS {
		cfg := c.tls
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(cfg)
	}
	out := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}
	if c.token != "" {
		out = append(out, grpc.WithPerRPCCredentials(bearer{token: c.token, secure: !c.plaintext}))
	}
	return append(out, c.extra...)
}

// Dial connects to a podfiles server: "host:port" (plaintext unless WithTLS),
// "http://host:port" or "https://host:port" (TLS). The connection is made
// lazily, on the first call.
func Dial(target string, opts ...Option) (*Client, error) {
	var c dialConfig
	addr, scheme, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if scheme == "https" {
		c.useTLS = true
	}
	for _, o := range opts {
		o(&c)
	}
	if c.token != "" && !c.useTLS && !c.plaintext {
		return nil, fmt.Errorf("podfiles: %s: WithToken needs TLS (https:// or WithTLS); use WithInsecureToken to send the token over plaintext on purpose", target)
	}
	conn, err := grpc.NewClient(addr, c.dialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("podfiles: %s: %w", target, err)
	}
	client := NewClient(conn)
	client.conn = conn
	return client, nil
}

// parseTarget accepts host:port and http(s)://host[:port][/].
func parseTarget(target string) (addr, scheme string, err error) {
	if !strings.Contains(target, "://") {
		return target, "", nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return "", "", fmt.Errorf("podfiles: %q: want host:port, http://host:port or https://host:port", target)
	}
	addr = u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	return addr, u.Scheme, nil
}

// bearer is the per-RPC credential of WithToken.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
