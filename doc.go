// Package patchctl holds the domain of the patch management control plane: the
// patch record and its lifecycle vocabulary, findings and assets, evidence,
// roles, audit events and the one error type every layer speaks.
//
// It imports only the standard library. Everything with I/O (storage,
// transports, integrations) lives under internal/ and depends on this package,
// never the other way round. The rules that decide transitions live in
// internal/lifecycle; the rules that decide priority and SLA live in
// internal/policy.
package patchctl
