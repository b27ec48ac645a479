package partner

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries the HMAC-SHA256 of the request body.
const SignatureHeader = "X-Segmentflow-Signature"

// signaturePrefix names the algorithm so it can change without breaking
// receivers that check it.
const signaturePrefix = "sha256="

// Sign returns the X-Segmentflow-Signature value for body:
// "sha256=" + lowercase hex of HMAC-SHA256(key, body), over the exact bytes sent.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify is what a receiving partner does: recompute the signature of the
// raw body and compare in constant time.
func Verify(key, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), signaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
