package route53

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials are the static AWS credentials the emulator requires when
// set. Left empty, the emulator accepts any access key, as LocalStack does:
// a request signed with any key and secret (the customary test/test) passes
// when its signature is well formed.
//
// Without the secret a signature cannot be verified, so in that mode the
// emulator checks what it can: the Authorization header's form (algorithm,
// Credential, SignedHeaders, a 64-hex-digit Signature), the credential scope
// (key, date, region, route53, aws4_request), that host and X-Amz-Date are
// signed, and that the scope's date is the request's.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// AnyKeyID and AnyKeySecret are what a client signs with when the emulator
// accepts any key: LocalStack's customary test/test.
const (
	AnyKeyID     = "test"
	AnyKeySecret = "test"
)

// Required reports whether these credentials are the only ones accepted
// (an access key is set) rather than any.
func (c Credentials) Required() bool { return c.AccessKeyID != "" }

// ForClient returns what a client signs with against an emulator started
// with c: c itself when required, else test/test.
func (c Credentials) ForClient() Credentials {
	if c.Required() {
		return c
	}
	return Credentials{AccessKeyID: AnyKeyID, SecretAccessKey: AnyKeySecret}
}

// signatureCheck checks the SigV4 signature of API requests. Every request
// must carry a well-formed AWS4-HMAC-SHA256 Authorization header scoped to
// the route53 service; when credentials are configured, the key must be
// theirs and the signature is recomputed with the SDK's signer and must
// match.
type signatureCheck struct {
	creds  Credentials
	signer *v4.Signer
}

func newSignatureCheck(c Credentials) signatureCheck {
	return signatureCheck{creds: c, signer: v4.NewSigner()}
}

// authorization is the parsed Authorization header:
// AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/route53/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

const sigV4Algorithm = "AWS4-HMAC-SHA256"

func parseAuthorization(h string) (authorization, *apiError) {
	var a authorization
	alg, rest, _ := strings.Cut(h, " ")
	if alg != sigV4Algorithm {
		return a, errIncompleteSignature(fmt.Sprintf("Unsupported AWS 'algorithm': '%s'. Authorization=%s", alg, h))
	}
	var credential, signed string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.signature = v
		}
	}
	var missing []string
	for _, p := range []struct{ name, value string }{{"Credential", credential}, {"Signature", a.signature}, {"SignedHeaders", signed}} {
		if p.value == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p.name))
		}
	}
	if len(missing) > 0 {
		return a, errIncompleteSignature(strings.Join(missing, " ") + " Authorization=" + h)
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return a, errIncompleteSignature(fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. Authorization=%s", credential, h))
	}
	a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	if a.accessKey == "" || a.region == "" {
		return a, errIncompleteSignature(fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. Authorization=%s", credential, h))
	}
	if _, err := time.Parse("20060102", a.date); err != nil {
		return a, errIncompleteSignature(fmt.Sprintf("Credential should be scoped to a valid date in YYYYMMDD format, not '%s'. Authorization=%s", a.date, h))
	}
	if len(a.signature) != 64 || strings.Trim(a.signature, "0123456789abcdef") != "" {
		return a, errIncompleteSignature(fmt.Sprintf("Signature must be 64 lowercase hexadecimal digits, not '%s'. Authorization=%s", a.signature, h))
	}
	a.signedHeaders = strings.Split(signed, ";")
	for _, name := range a.signedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return a, errIncompleteSignature(fmt.Sprintf("SignedHeaders must be lowercase header names separated by ';', not '%s'. Authorization=%s", signed, h))
		}
	}
	return a, nil
}

// check returns the error AWS answers an unsigned or badly signed request
// with, or nil.
func (c signatureCheck) check(ctx context.Context, r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errMissingAuthenticationToken()
	}
	a, e := parseAuthorization(h)
	if e != nil {
		return e
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return errIncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + h)
	}
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return errIncompleteSignature(fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'.", amzDate))
	}
	if a.service != "route53" {
		return &apiError{http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'route53'. "}
	}
	if a.date != amzDate[:8] {
		return &apiError{http.StatusForbidden, "SignatureDoesNotMatch",
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, amzDate[:8], amzDate)}
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return errIncompleteSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !slices.Contains(a.signedHeaders, "x-amz-date") {
		return errIncompleteSignature("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization when the request carries it.")
	}
	if !c.creds.Required() {
		return nil
	}
	if a.accessKey != c.creds.AccessKeyID {
		return errInvalidClientTokenID()
	}
	want, err := c.expectedSignature(ctx, r, body, a, signedAt)
	if err != nil {
		return &apiError{http.StatusInternalServerError, "InternalFailure", "recompute signature: " + err.Error()}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return errSignatureDoesNotMatch()
	}
	return nil
}

// expectedSignature signs a copy of r holding only the headers the client
// signed, with the configured secret, and returns the signature.
func (c signatureCheck) expectedSignature(ctx context.Context, r *http.Request, body []byte, a authorization, at time.Time) (string, error) {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
			// Signed from req.Host.
		case "content-length":
			req.ContentLength = int64(len(body))
		default:
			req.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	creds := aws.Credentials{
		AccessKeyID:     c.creds.AccessKeyID,
		SecretAccessKey: c.creds.SecretAccessKey,
		SessionToken:    r.Header.Get("X-Amz-Security-Token"),
	}
	if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, a.service, a.region, at); err != nil {
		return "", err
	}
	signed, e := parseAuthorization(req.Header.Get("Authorization"))
	if e != nil {
		return "", e
	}
	return signed.signature, nil
}
