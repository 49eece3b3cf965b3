@testable import Accounts
import Testing

/// Cheap parameters keep the suite fast; one test uses the defaults.
private let cheap = PasswordHasher.Parameters(memoryKiB: 64, iterations: 1, parallelism: 1)

@Suite struct PasswordHasherTests {
    @Test func hashAndVerify() throws {
        let hasher = try PasswordHasher(parameters: cheap)
        let password = Array("correct horse battery".utf8)
        let encoded = try hasher.hash(password)
        #expect(encoded.hasPrefix("$argon2id$v=19$m=64,t=1,p=1$"))
        #expect(hasher.verify(password, against: encoded))
        #expect(!hasher.verify(Array("correct horse batterY".utf8), against: encoded))
        #expect(!hasher.verify(password + [0], against: encoded))
        #expect(try hasher.hash(password) != encoded)   // fresh salt each time
        #expect(PHCString(encoded) == PHCString("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"))
    }

    @Test func exactBytes() throws {
        let hasher = try PasswordHasher(parameters: cheap)
        // No trimming, no normalisation: "é" precomposed and decomposed are different passwords.
        let encoded = try hasher.hash(Array("caf\u{e9}-password".utf8))
        #expect(!hasher.verify(Array("cafe\u{301}-password".utf8), against: encoded))
        #expect(!hasher.verify(Array(" caf\u{e9}-password".utf8), against: encoded))
        let empty = try hasher.hash([])
        #expect(hasher.verify([], against: empty))
    }

    @Test func knownVector() throws {
        // Made elsewhere (Python argon2-cffi, its own copy of the reference code):
        // hash_secret(b"password", b"somesaltsomesalt", time_cost=1, memory_cost=64, parallelism=1, hash_len=32, type=ID)
        let encoded = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$55PWTvddWPUD1GMbKxSff4ASfF85k9ibHJt4HlHQtBM"
        let hasher = try PasswordHasher(parameters: cheap)
        #expect(hasher.verify(Array("password".utf8), against: encoded))
        #expect(!hasher.verify(Array("passwore".utf8), against: encoded))
        #expect(!hasher.needsRehash(encoded))
    }

    @Test(arguments: [
        "", "garbage", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=64,t=1,p=1$c2Fsd$aGFzaGhhc2g",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2g",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g$",
    ])
    func malformedStoredHashIsANonMatch(encoded: String) throws {
        let hasher = try PasswordHasher(parameters: cheap)
        #expect(!hasher.verify(Array("password".utf8), against: encoded))
        #expect(hasher.needsRehash(encoded))
    }

    @Test(arguments: [
        // Well-formed but beyond the verify limits: refused without running (16 GiB would take a while).
        "$argon2id$v=19$m=16777216,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=64,t=100000,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=64,t=1,p=200$c2FsdHNhbHQ$aGFzaGhhc2g",
        // Below libargon2's own minimum (8 KiB per lane).
        "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=7,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    ])
    func outOfLimitsStoredHashIsANonMatch(encoded: String) throws {
        let hasher = try PasswordHasher(parameters: cheap)
        let start = ContinuousClock.now
        #expect(!hasher.verify(Array("password".utf8), against: encoded))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func needsRehash() throws {
        let current = PasswordHasher.Parameters(memoryKiB: 128, iterations: 2, parallelism: 1)
        let hasher = try PasswordHasher(parameters: current)
        #expect(!hasher.needsRehash(try hasher.hash(Array("p".utf8))))
        let lower = [PasswordHasher.Parameters(memoryKiB: 64, iterations: 2, parallelism: 1),
                     PasswordHasher.Parameters(memoryKiB: 128, iterations: 1, parallelism: 1)]
        for p in lower {
            let old = try PasswordHasher(parameters: p)
            let encoded = try old.hash(Array("p".utf8))
            #expect(hasher.needsRehash(encoded))
            #expect(hasher.verify(Array("p".utf8), against: encoded))   // still verifies
        }
        let higher = try PasswordHasher(parameters: .init(memoryKiB: 256, iterations: 3, parallelism: 1))
        #expect(!hasher.needsRehash(try higher.hash(Array("p".utf8))))
    }

    @Test func dummy() throws {
        let hasher = try PasswordHasher(parameters: cheap)
        hasher.verifyDummy(Array("anything".utf8))
        hasher.verifyDummy([])
    }

    @Test func defaults() throws {
        let p = PasswordHasher.Parameters()
        #expect(p == .init(memoryKiB: 19456, iterations: 2, parallelism: 1))
        let hasher = try PasswordHasher()
        let encoded = try hasher.hash(Array("a real password".utf8))
        #expect(encoded.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(hasher.verify(Array("a real password".utf8), against: encoded))
    }

    @Test func errorsNameNoInput() {
        let e = PasswordHasher.HashError(code: -35)
        #expect(e.description.hasPrefix("argon2id failed: "))
    }
}
