package route53

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error the API answers with, in Route53's own terms: the
// error code a client switches on, the HTTP status and the message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// The error codes below are the ones Route53 returns for the operations the
// emulator serves (see the API model's "errors" of each operation).

func errNoSuchHostedZone(id string) *apiError {
	return &apiError{http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: " + id}
}

func errNoSuchChange(id string) *apiError {
	return &apiError{http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist: " + id}
}

func errHostedZoneNotEmpty() *apiError {
	return &apiError{http.StatusBadRequest, "HostedZoneNotEmpty",
		"The specified hosted zone contains non-required resource record sets and so cannot be deleted."}
}

func errHostedZoneAlreadyExists(callerRef string) *apiError {
	return &apiError{http.StatusConflict, "HostedZoneAlreadyExists",
		fmt.Sprintf("A hosted zone has already been created with the specified caller reference: %s", callerRef)}
}

func errInvalidDomainName(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidDomainName", msg}
}

func errInvalidInput(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidInput", msg}
}

// errValidation is Route53's InvalidInput for values that break the API
// model's constraints, worded like its validation layer:
// "1 validation error detected: Value '256' at 'changeBatch.changes.1.member.resourceRecordSet.weight'
// failed to satisfy constraint: Member must have value less than or equal to 255".
func errValidation(violations []string) *apiError {
	noun := "error"
	if len(violations) > 1 {
		noun = "errors"
	}
	return errInvalidInput(fmt.Sprintf("%d validation %s detected: %s", len(violations), noun, strings.Join(violations, "; ")))
}

// errInvalidChangeBatch is the error for a change batch that is well formed
// but cannot be applied. Route53 lists every problem of the batch in one
// bracketed message, e.g. "[Tried to delete resource record set
// [name='x.example.com.', type='A'] but it was not found]".
func errInvalidChangeBatch(messages []string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidChangeBatch", "[" + strings.Join(messages, ", ") + "]"}
}

func errMissingAuthenticationToken() *apiError {
	return &apiError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
}

// errIncompleteSignature has status 400, as AWS's list of errors common to
// all services gives it.
func errIncompleteSignature(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "IncompleteSignature", msg}
}

func errInvalidClientTokenID() *apiError {
	return &apiError{http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."}
}

func errSignatureDoesNotMatch() *apiError {
	return &apiError{http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
}

func errUnknownOperation(method, path string) *apiError {
	return &apiError{http.StatusNotFound, "UnknownOperation",
		fmt.Sprintf("The Route53 emulator serves no operation at %s %s", method, path)}
}

// errorResponse is the XML body of every error:
//
//	<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
//	  <Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>...</Message></Error>
//	  <RequestId>...</RequestId>
//	</ErrorResponse>
type errorResponse struct {
	XMLName   xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	writeXML(w, e.Status, errorResponse{Type: typ, Code: e.Code, Message: e.Message, RequestID: requestID})
}
