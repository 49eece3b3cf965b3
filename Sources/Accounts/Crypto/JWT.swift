import COpenSSL
import JSON

/// HS256 access tokens (RFC 7519) as contract 2a defines them: no I/O, no clock of its own.
public enum JWT {
    /// Tokens longer than this are refused before any decoding (ours are ~300 bytes).
    public static let maxTokenBytes = 8192

    /// Header `{"alg":"HS256","typ":"JWT","kid":…}` with the ring's signing kid; claims in the
    /// order iss, sub, sid, jti, iat, exp.
    public static func sign(_ claims: AccessClaims, with ring: KeyRing) -> String {
        var header = JSONWriter(reservingCapacity: 64)
        header.writeRaw("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":")
        header.writeString(ring.signingKid)
        header.writeRaw("}")

        var payload = JSONWriter(reservingCapacity: 192)
        payload.writeRaw("{\"iss\":")
        payload.writeString(AccessClaims.issuer)
        payload.writeRaw(",\"sub\":")
        payload.writeString(claims.sub)
        payload.writeRaw(",\"sid\":")
        payload.writeString(claims.sid)
        payload.writeRaw(",\"jti\":")
        payload.writeString(claims.jti)
        payload.writeRaw(",\"iat\":")
        payload.writeInt(claims.iat)
        payload.writeRaw(",\"exp\":")
        payload.writeInt(claims.exp)
        payload.writeRaw("}")

        let signingInput = Base64URL.encode(header.bytes) + "." + Base64URL.encode(payload.bytes)
        return signingInput + "." + Base64URL.encode(hmacSHA256(key: ring.signingSecret, Array(signingInput.utf8)))
    }

    /// Checks in the contract's order, the first failure answering: shape and encoding, header
    /// (alg, kid), signature, claims, issuer → `.invalid`; then `exp <= nowSeconds` → `.expired`.
    /// Revocation is the caller's.
    public static func verify(_ token: String, with ring: KeyRing, nowSeconds: Int64) -> Result<AccessClaims, TokenFailure> {
        let bytes = token.utf8
        guard bytes.count <= maxTokenBytes else { return .failure(.invalid(.tooLong)) }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Base64URL.decode(parts[0]),
              let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else { return .failure(.invalid(.encoding)) }

        let parser = JSONParser(maxDepth: 8)
        guard let header = (try? parser.parse(headerBytes))?.objectValue else { return .failure(.invalid(.header)) }
        guard header["alg"]?.stringValue == "HS256" else { return .failure(.invalid(.algorithm)) }
        guard let kid = header["kid"]?.stringValue, let secret = ring.secret(for: kid) else {
            return .failure(.invalid(.keyID))
        }

        let signingInput = Array(bytes[..<parts[1].endIndex])
        guard Secrets.constantTimeEqual(hmacSHA256(key: secret, signingInput), signature) else {
            return .failure(.invalid(.signature))
        }

        guard let payload = (try? parser.parse(payloadBytes))?.objectValue,
              let sub = nonEmptyString(payload["sub"]), let sid = nonEmptyString(payload["sid"]),
              let jti = nonEmptyString(payload["jti"]),
              let iat = seconds(payload["iat"]), let exp = seconds(payload["exp"]) else {
            return .failure(.invalid(.claims))
        }
        guard payload["iss"]?.stringValue == AccessClaims.issuer else { return .failure(.invalid(.issuer)) }
        guard exp > nowSeconds else { return .failure(.expired) }
        return .success(AccessClaims(sub: sub, sid: sid, jti: jti, iat: iat, exp: exp))
    }

    private static func nonEmptyString(_ value: JSONValue?) -> String? {
        guard let s = value?.stringValue, !s.isEmpty else { return nil }
        return s
    }

    /// A JSON integer (no fraction or exponent) within 0...AccessClaims.maxSeconds.
    private static func seconds(_ value: JSONValue?) -> Int64? {
        guard let n = value?.numberValue?.int64, (0...AccessClaims.maxSeconds).contains(n) else { return nil }
        return n
    }

    /// HMAC-SHA-256 through OpenSSL's one-shot HMAC().
    static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                mac.withUnsafeMutableBufferPointer { m in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count,
                         m.baseAddress, &length)
                }
            }
        }
        // HMAC() fails only without memory: nothing to recover.
        precondition(result != nil && length == 32, "HMAC-SHA-256 failed")
        return mac
    }
}
