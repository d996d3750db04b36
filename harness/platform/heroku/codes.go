package heroku

import "fmt"

// Code is a Heroku router error code (H12 ...), as the router logs it in
// code= and the harness counts it.
type Code string

// The codes the simulated router emits (heroku-facts.md §2).
const (
	H10 Code = "H10" // App crashed
	H11 Code = "H11" // Backlog too deep
	H12 Code = "H12" // Request timeout
	H13 Code = "H13" // Connection closed without response
	H14 Code = "H14" // No web processes running
	H15 Code = "H15" // Idle connection
	H17 Code = "H17" // Poorly formatted HTTP response
	H18 Code = "H18" // Server Request Interrupted
	H19 Code = "H19" // Backend connection timeout
	H20 Code = "H20" // App boot timeout
	H21 Code = "H21" // Backend connection refused
	H25 Code = "H25" // HTTP Restriction
	H26 Code = "H26" // Request Error
	H27 Code = "H27" // Client Request Interrupted
	H28 Code = "H28" // Client Connection Idle
	H80 Code = "H80" // Maintenance mode
	H81 Code = "H81" // Blank app
	H99 Code = "H99" // Platform error
)

// routerError is how the router answers and logs one H-code.
type routerError struct {
	desc   string
	status int    // HTTP status to the client and in status=
	at     string // at= level
	sock   string // sock= field, when Heroku writes one
}

// routerErrors are the H-codes the simulated router emits (heroku-facts.md
// §2). Router 2.0 does not emit H26; this router logs it for the 400s it
// sends, so a rejected request still leaves a line.
var routerErrors = map[Code]routerError{
	H10: {desc: "App crashed", status: 503, at: "error"},
	H11: {desc: "Backlog too deep", status: 503, at: "error"},
	H12: {desc: "Request timeout", status: 503, at: "error"},
	H13: {desc: "Connection closed without response", status: 503, at: "error"},
	H14: {desc: "No web processes running", status: 503, at: "error"},
	H15: {desc: "Idle connection", status: 503, at: "error"},
	H17: {desc: "Poorly formatted HTTP response", status: 503, at: "error"},
	H18: {desc: "Server Request Interrupted", status: 503, at: "error", sock: "backend"},
	H19: {desc: "Backend connection timeout", status: 503, at: "error"},
	H20: {desc: "App boot timeout", status: 503, at: "error"},
	H21: {desc: "Backend connection refused", status: 503, at: "error"},
	H25: {desc: "HTTP Restriction", status: 502, at: "error"},
	H26: {desc: "Request Error", status: 400, at: "error"},
	H27: {desc: "Client Request Interrupted", status: 499, at: "warning", sock: "client"},
	H28: {desc: "Client Connection Idle", status: 499, at: "warning", sock: "client"},
	H80: {desc: "Maintenance mode", status: 503, at: "info"},
	H81: {desc: "Blank app", status: 503, at: "info"},
	H99: {desc: "Platform error", status: 503, at: "error"},
}

// checkCode validates a code a fault asks the router to emit.
func checkCode(code Code) error {
	if _, ok := routerErrors[code]; !ok {
		return fmt.Errorf("unknown router error code %q", code)
	}
	return nil
}

// Pages the router serves itself: unstyled HTML, as Heroku's router does for
// system-level errors and maintenance mode.
const (
	applicationErrorPage = `<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Application Error</title>
  </head>
  <body>
    <h1>Application Error</h1>
    <p>An error occurred in the application and your page could not be served. Please try again in a few moments.</p>
    <p>If you are the application owner, check your logs for details.</p>
  </body>
</html>
`
	maintenancePage = `<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Offline for Maintenance</title>
  </head>
  <body>
    <h1>Offline for Maintenance</h1>
    <p>This app is undergoing maintenance right now. Please check back later.</p>
  </body>
</html>
`
	badRequestPage = `<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Bad Request</title>
  </head>
  <body>
    <h1>Bad Request</h1>
    <p>The request could not be understood by the server.</p>
  </body>
</html>
`
)

func errorPage(code Code) string {
	switch code {
	case H80:
		return maintenancePage
	case H26:
		return badRequestPage
	}
	return applicationErrorPage
}
