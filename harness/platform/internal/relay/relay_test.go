package relay

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// upstream is a real TCP server on loopback: it reads a line, answers
// with the line and the client's address, reads until EOF and then sends
// "bye" — a client that half-closes still gets the last word.
func upstream(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				_, _ = io.WriteString(c, line+host+"\n")
				_, _ = io.Copy(io.Discard, c)
				_, _ = io.WriteString(c, "bye\n")
			}()
		}
	}()
	return l.Addr().String()
}

func TestRelayForwardsBothWaysFromTheEgressAddress(t *testing.T) {
	for _, tc := range []struct {
		name, egress, wantSource string
	}{
		{"egress address", "127.0.0.30", "127.0.0.30"},
		{"kernel's choice", "", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := upstream(t, "127.0.0.1:0")
			r, err := New(Options{Host: "127.0.0.40", Egress: tc.egress})
			require.NoError(t, err)
			defer r.Close()
			addr, err := r.Expose(up)
			require.NoError(t, err)
			host, _, err := net.SplitHostPort(addr)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.40", host)
			again, err := r.Expose(up)
			require.NoError(t, err)
			require.Equal(t, addr, again, "one listener per upstream")
			require.Equal(t, map[string]string{up: addr}, r.Exposed())

			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
			_, err = io.WriteString(c, "hello\n")
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			require.Equal(t, "hello\n"+tc.wantSource+"\nbye\n", string(got))
		})
	}
}

func TestRelayRefusedUpstreamClosesTheConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	r, err := New(Options{Host: "127.0.0.40"})
	require.NoError(t, err)
	defer r.Close()
	addr, err := r.Expose(dead)
	require.NoError(t, err)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n)
	require.Error(t, err, "closed, not hung")
}

func TestRelayCloseEndsConnectionsUnderWay(t *testing.T) {
	up := upstream(t, "127.0.0.1:0")
	r, err := New(Options{Host: "127.0.0.40"})
	require.NoError(t, err)
	addr, err := r.Expose(up)
	require.NoError(t, err)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(c, "hi\n")
	require.NoError(t, err)
	_, err = bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)

	require.NoError(t, r.Close(), "returns with a connection open: it is ended")
	_, err = io.ReadAll(c)
	require.NoError(t, err, "the pod's side sees EOF")
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "no listener after Close")
	_, err = r.Expose(up)
	require.ErrorContains(t, err, "closed")
	require.NoError(t, r.Close(), "twice")
}

func TestNewRejectsWhatIsNotAnAddress(t *testing.T) {
	for _, o := range []Options{{Host: ""}, {Host: "gateway"}, {Host: "127.0.0.1", Egress: "nat"}} {
		_, err := New(o)
		require.Error(t, err, "%+v", o)
	}
	r, err := New(Options{Host: "127.0.0.1"})
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Expose("no-port")
	require.Error(t, err)
}
