// Address rewriting for pods that reach the docker stack on its network.

package kind

import (
	"sort"
	"strings"
)

// rewriteAddrs replaces every host:port of addrs found in s by its value.
// A match must not run on into more digits ("127.0.0.1:543" does not match
// in "127.0.0.1:5432"), nor start inside a longer address.
func rewriteAddrs(s string, addrs map[string]string) string {
	if len(addrs) == 0 {
		return s
	}
	// Longest first, so overlapping keys cannot shadow each other.
	keys := make([]string, 0, len(addrs))
	for k := range addrs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		for _, k := range keys {
			if k == "" || !strings.HasPrefix(s[i:], k) {
				continue
			}
			end := i + len(k)
			if end < len(s) && isDigit(s[end]) {
				continue
			}
			if i > 0 && (isDigit(s[i-1]) || s[i-1] == '.') {
				continue
			}
			b.WriteString(addrs[k])
			i = end
			matched = true
			break
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
