// Package certtest makes throwaway certificate authorities, and
// certificates and keys they sign, for warren's TLS tests. It uses
// crypto/x509 only, so the tests need no openssl.
package certtest
