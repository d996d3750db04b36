package route53

import (
	"fmt"
	"strconv"
	"strings"
)

// canonicalName turns a DNS name as a client writes it into the form the
// emulator stores: lower case, fully qualified (trailing dot), with Route53's
// octal escapes (\052 for '*') decoded. Route53 treats "www.example.com" and
// "www.example.com." as the same name, and names are case-insensitive.
func canonicalName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("the domain name is empty")
	}
	decoded, err := decodeOctalEscapes(name)
	if err != nil {
		return "", err
	}
	decoded = strings.ToLower(decoded)
	if decoded == "." {
		return "", fmt.Errorf("the root domain cannot be used")
	}
	if !strings.HasSuffix(decoded, ".") {
		decoded += "."
	}
	if len(decoded) > 255 {
		return "", fmt.Errorf("the domain name %s is longer than 255 characters", name)
	}
	for i, label := range strings.Split(strings.TrimSuffix(decoded, "."), ".") {
		switch {
		case label == "":
			return "", fmt.Errorf("FATAL problem: DomainLabelEmpty (Domain label is empty) encountered with '%s'", name)
		case len(label) > 63:
			return "", fmt.Errorf("FATAL problem: DomainLabelTooLong (Domain label is too long) encountered with '%s'", name)
		case strings.Contains(label, "*") && (label != "*" || i != 0):
			return "", fmt.Errorf("FATAL problem: the * wildcard must be the whole leftmost label, encountered with '%s'", name)
		}
		for _, c := range []byte(label) {
			if c <= ' ' || c >= 0x7f || c == '\\' {
				return "", fmt.Errorf("FATAL problem: InvalidCharacter (Invalid character in domain name) encountered with '%s'", name)
			}
		}
	}
	return decoded, nil
}

// decodeOctalEscapes replaces \ddd sequences (Route53's escapes for
// characters outside a-z, 0-9, '-' and '_') by the byte they stand for.
func decodeOctalEscapes(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("FATAL problem: InvalidEscape (incomplete escape sequence) encountered with '%s'", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("FATAL problem: InvalidEscape (escape must be three octal digits) encountered with '%s'", s)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// displayName is how Route53 writes a stored name back: characters other
// than a-z, 0-9, '-', '_' and '.' as \ddd octal escapes (so the wildcard
// label reads "\052").
func displayName(name string) string {
	plain := true
	for _, c := range []byte(name) {
		if !isPlainNameByte(c) {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	var b strings.Builder
	for _, c := range []byte(name) {
		if isPlainNameByte(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, `\%03o`, c)
	}
	return b.String()
}

func isPlainNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// inZone reports whether name (canonical) is zone or below it.
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// compareNames orders canonical names the way ListResourceRecordSets and
// ListHostedZonesByName do: by labels reversed, so "example.com." comes
// before "a.example.com." which comes before "b.example.com.".
func compareNames(a, b string) int {
	a = strings.TrimSuffix(a, ".")
	b = strings.TrimSuffix(b, ".")
	for a != "" || b != "" {
		var la, lb string
		la, a = lastLabel(a)
		lb, b = lastLabel(b)
		if c := strings.Compare(la, lb); c != 0 {
			return c
		}
		if a == "" && b != "" {
			return -1
		}
		if b == "" && a != "" {
			return 1
		}
	}
	return 0
}

func lastLabel(s string) (label, rest string) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, ""
	}
	return s[i+1:], s[:i]
}
