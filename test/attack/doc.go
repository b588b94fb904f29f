// Package attack is the gateway's attack suite: integration tests that
// start the real `facegateway serve` and `facegateway partner` processes on
// loopback and attack them the way an outsider, a rogue partner or a stolen
// kiosk would. Each row asserts the refusal and that nothing was lost or
// counted twice (attempts left unchanged, nothing stored, a legitimate
// request afterwards still works).
//
// The package has no code outside its tests: the harness (Stack, in
// harness_test.go) and the rows live in _test.go files; README.md says how
// to add a row. The suite runs under `make test` and skips, naming what is
// missing, when the models (`make models`) or ../shared/testdata are absent
// or in -short mode.
package attack
